//! `format = avro` against datums written by hand from the Avro specification's binary
//! encoding, for the schema SeaTunnel derives from a row type.

use chrono::NaiveDate;
use weir_core::row::Value;
use weir_core::schema::{DataType, Field};

use super::AvroReader;

/// Avro's zig-zag varint.
fn long(out: &mut Vec<u8>, value: i64) {
    let mut raw = ((value << 1) ^ (value >> 63)) as u64;
    loop {
        let byte = (raw & 0x7f) as u8;
        raw >>= 7;
        if raw == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn bytes(out: &mut Vec<u8>, value: &[u8]) {
    long(out, value.len() as i64);
    out.extend_from_slice(value);
}

fn fields(list: &[(&str, DataType)]) -> Vec<(String, DataType)> {
    list.iter()
        .map(|(name, data_type)| (name.to_string(), data_type.clone()))
        .collect()
}

#[test]
fn every_type_of_seatunnels_avro_schema() {
    let nested = DataType::Row(vec![
        Field {
            name: "a".into(),
            data_type: DataType::Int,
        },
        Field {
            name: "b".into(),
            data_type: DataType::String,
        },
    ]);
    let reader = AvroReader::new(&fields(&[
        ("s", DataType::String),
        ("raw", DataType::Bytes),
        ("t", DataType::Tinyint),
        ("sm", DataType::Smallint),
        ("i", DataType::Int),
        ("l", DataType::Bigint),
        ("f", DataType::Float),
        ("d", DataType::Double),
        ("ok", DataType::Boolean),
        (
            "dec",
            DataType::Decimal {
                precision: 10,
                scale: 2,
            },
        ),
        ("ts", DataType::Timestamp),
        ("day", DataType::Date),
        ("nothing", DataType::Null),
        ("list", DataType::Array(Box::new(DataType::Int))),
        (
            "tags",
            DataType::Map(Box::new(DataType::String), Box::new(DataType::Bigint)),
        ),
        ("row", nested),
    ]));
    let mut datum = Vec::new();
    bytes(&mut datum, "héllo".as_bytes());
    bytes(&mut datum, &[0, 0xff]);
    long(&mut datum, -128);
    long(&mut datum, 300);
    long(&mut datum, -70_000);
    long(&mut datum, 1 << 40);
    datum.extend_from_slice(&1.5f32.to_le_bytes());
    datum.extend_from_slice(&(-2.25f64).to_le_bytes());
    datum.push(1);
    bytes(&mut datum, &(-12345i16).to_be_bytes()); // -123.45
    long(&mut datum, 1_651_069_800_000);
    long(&mut datum, 19109);
    // null: no bytes. An array in two blocks, the second with its byte size (negative count).
    long(&mut datum, 2);
    long(&mut datum, 1);
    long(&mut datum, 2);
    long(&mut datum, -1);
    long(&mut datum, 1);
    long(&mut datum, 3);
    long(&mut datum, 0);
    long(&mut datum, 1);
    bytes(&mut datum, b"k");
    long(&mut datum, 7);
    long(&mut datum, 0);
    long(&mut datum, 5);
    bytes(&mut datum, b"x");
    let day = NaiveDate::from_ymd_opt(2022, 4, 27).unwrap();
    assert_eq!(
        reader.read(&datum),
        Ok(vec![
            Value::String("héllo".into()),
            Value::Bytes(vec![0, 0xff]),
            Value::Tinyint(-128),
            Value::Smallint(300),
            Value::Int(-70_000),
            Value::Bigint(1 << 40),
            Value::Float(1.5),
            Value::Double(-2.25),
            Value::Boolean(true),
            Value::Decimal {
                unscaled: -12345,
                scale: 2
            },
            Value::Timestamp(day.and_hms_opt(14, 30, 0).unwrap()),
            Value::Date(day),
            Value::Null,
            Value::Array(vec![Value::Int(1), Value::Int(2), Value::Int(3)]),
            Value::Map(vec![(Value::String("k".into()), Value::Bigint(7))]),
            Value::Row(vec![Value::Int(5), Value::String("x".into())]),
        ])
    );
}

#[test]
fn data_not_of_the_schema_is_an_error_naming_the_field() {
    let reader = AvroReader::new(&fields(&[
        ("id", DataType::Bigint),
        ("name", DataType::String),
        ("t", DataType::Tinyint),
    ]));
    let mut datum = Vec::new();
    long(&mut datum, 1);
    bytes(&mut datum, b"ab");
    long(&mut datum, 1000);
    assert_eq!(
        reader.read(&datum).unwrap_err(),
        "field 't' (tinyint): 1000 does not fit tinyint"
    );
    // Cut short inside the string.
    let mut short = Vec::new();
    long(&mut short, 1);
    long(&mut short, 10);
    short.extend_from_slice(b"abc");
    assert!(
        reader
            .read(&short)
            .unwrap_err()
            .starts_with("field 'name' (string): the value ends early: 10 more bytes needed")
    );
    // Bytes left over: not this schema.
    let mut extra = Vec::new();
    long(&mut extra, 1);
    bytes(&mut extra, b"ab");
    long(&mut extra, 1);
    extra.push(9);
    assert!(
        reader
            .read(&extra)
            .unwrap_err()
            .contains("1 bytes are left after the record's last field")
    );
    // A schema-registry frame (magic byte 0, schema id) is named as a possible cause.
    let mut framed = vec![0, 0, 0, 0, 7];
    framed.extend_from_slice(&extra);
    assert!(
        reader
            .read(&framed)
            .unwrap_err()
            .contains("schema registry")
    );
    // A hostile varint and a hostile block count end with an error, at once.
    assert!(reader.read(&[0xff; 12]).is_err());
    let list = AvroReader::new(&fields(&[("n", DataType::Array(Box::new(DataType::Null)))]));
    let mut hostile = Vec::new();
    long(&mut hostile, i64::MAX);
    assert!(
        list.read(&hostile)
            .unwrap_err()
            .contains("longer than the value")
    );
    let flag = AvroReader::new(&fields(&[("b", DataType::Boolean)]));
    assert_eq!(
        flag.read(&[2]).unwrap_err(),
        "field 'b' (boolean): a boolean byte is 0 or 1, found 2"
    );
}
