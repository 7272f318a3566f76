//! `canal_json` and `debezium_json` on SeaTunnel's own e2e test messages
//! (`tests/seatunnel-data/`) and on the edge cases of its deserializers.

use chrono::{NaiveDate, NaiveTime};
use weir_core::row::{Row, RowKind, Value};
use weir_core::schema::DataType;

use super::{canal, debezium};

const CANAL_DATA: &str = include_str!("../../../../tests/seatunnel-data/canal_data.txt");
const DEBEZIUM_DATA: &str = include_str!("../../../../tests/seatunnel-data/debezium_data.txt");

fn products() -> Vec<(String, DataType)> {
    [
        ("id", DataType::Int),
        ("name", DataType::String),
        ("description", DataType::String),
        ("weight", DataType::String),
    ]
    .into_iter()
    .map(|(name, data_type)| (name.to_string(), data_type))
    .collect()
}

fn product(kind: RowKind, id: i32, name: &str, description: &str, weight: &str) -> Row {
    Row::with_kind(
        vec![
            Value::Int(id),
            Value::String(name.into()),
            Value::String(description.into()),
            Value::String(weight.into()),
        ],
        kind,
    )
}

fn kinds(rows: &[Row]) -> Vec<&'static str> {
    rows.iter().map(|row| row.kind.short_name()).collect()
}

#[test]
fn canal_messages_of_seatunnels_e2e_test_give_its_rows() {
    let fields = products();
    let per_message: Vec<Vec<Row>> = CANAL_DATA
        .lines()
        .map(|line| canal(&fields, Some(line.as_bytes())).unwrap())
        .collect();
    assert_eq!(per_message.len(), 7);
    // QUERY, CREATE and ALTER: DDL, no rows.
    assert!(per_message[..3].iter().all(Vec::is_empty));
    let inserts = &per_message[3];
    assert_eq!(inserts.len(), 9);
    assert!(inserts.iter().all(|row| row.kind == RowKind::Insert));
    assert_eq!(
        inserts[0],
        product(
            RowKind::Insert,
            1101,
            "scooter",
            "Small 2-wheel scooter",
            "3.14"
        )
    );
    assert_eq!(
        inserts[8],
        product(
            RowKind::Insert,
            1109,
            "spare tire",
            "24 inch spare tire",
            "22.2"
        )
    );
    // An update: the old row takes the fields `old` does not name from the new one.
    assert_eq!(
        per_message[4],
        vec![
            product(
                RowKind::UpdateBefore,
                1101,
                "scooter",
                "Small 2-wheel scooter",
                "3.14"
            ),
            product(
                RowKind::UpdateAfter,
                1101,
                "scooter",
                "Small 2-wheel scooter",
                "4.56"
            ),
        ]
    );
    assert_eq!(kinds(&per_message[5]), ["-U", "+U"]);
    assert_eq!(
        per_message[6],
        vec![product(
            RowKind::Delete,
            1109,
            "spare tire",
            "24 inch spare tire",
            "22.2"
        )]
    );
}

#[test]
fn canal_updates_of_several_rows_and_explicit_nulls() {
    let fields = products();
    let message = br#"{"type":"UPDATE","data":[{"id":"1","name":"a2","description":null,"weight":"2"},{"id":"2","name":"b2","description":"d","weight":"3"}],"old":[{"name":"a1","description":null},{"name":"b1"}]}"#;
    let rows = canal(&fields, Some(message)).unwrap();
    assert_eq!(kinds(&rows), ["-U", "+U", "-U", "+U"]);
    // `description` is named in `old` (set to null there): it changed, from null.
    assert_eq!(rows[0].values[2], Value::Null);
    assert_eq!(rows[0].values[1], Value::String("a1".into()));
    assert_eq!(rows[0].values[3], Value::String("2".into()));
    // In the second row `description` is not named, but `old` names it (in its first
    // element), so SeaTunnel keeps it null rather than copying "d".
    assert_eq!(rows[2].values[2], Value::Null);
    assert_eq!(rows[2].values[1], Value::String("b1".into()));
    assert_eq!(rows[2].values[3], Value::String("3".into()));
}

#[test]
fn canal_errors_and_skips_as_seatunnel_does() {
    let fields = products();
    let decode = |message: &[u8]| canal(&fields, Some(message));
    assert_eq!(canal(&fields, None), Ok(vec![]), "a tombstone gives no row");
    assert_eq!(decode(b""), Ok(vec![]));
    assert_eq!(
        decode(br#"{"type":"TRUNCATE","data":null}"#).unwrap_err(),
        "the Canal TRUNCATE event has no 'data'"
    );
    assert_eq!(
        decode(br#"{"type":"INSERT","data":null}"#).unwrap_err(),
        "the Canal INSERT event has no 'data'"
    );
    assert_eq!(
        decode(br#"{"type":"ERASE","data":[{"id":"1"}]}"#).unwrap_err(),
        "unknown Canal operation type 'ERASE'"
    );
    assert_eq!(
        decode(br#"{"data":[]}"#).unwrap_err(),
        "the Canal event has no 'type'"
    );
    assert_eq!(
        decode(br#"{"type":"UPDATE","data":[{"id":"1"}]}"#).unwrap_err(),
        "the Canal UPDATE event has no 'old' array"
    );
    assert_eq!(
        decode(br#"{"type":"INSERT","data":[{"id":"x"}]}"#).unwrap_err(),
        "field 'id' must be int, found string \"x\""
    );
    assert!(
        decode(b"{not json")
            .unwrap_err()
            .starts_with("not a Canal JSON object")
    );
}

fn debezium_fields() -> Vec<(String, DataType)> {
    [
        ("id", DataType::Int),
        ("f_blob", DataType::Bytes),
        // Debezium writes VARBINARY as base64; SeaTunnel's e2e job reads it as a string.
        ("f_varbinary", DataType::String),
        ("f_smallint", DataType::Smallint),
        (
            "f_decimal",
            DataType::Decimal {
                precision: 10,
                scale: 0,
            },
        ),
        ("f_float", DataType::Float),
        ("f_date", DataType::Date),
        ("f_datetime", DataType::Timestamp),
        ("f_timestamp", DataType::Timestamp),
        ("f_bit1", DataType::Boolean),
        ("f_time", DataType::Time),
        ("f_tinyint", DataType::Tinyint),
        ("f_json", DataType::String),
        ("f_year", DataType::Int),
        ("f_longblob", DataType::Bytes),
    ]
    .into_iter()
    .map(|(name, data_type)| (name.to_string(), data_type))
    .collect()
}

#[test]
fn debezium_messages_of_seatunnels_e2e_test_with_the_schema_envelope() {
    let fields = debezium_fields();
    let rows: Vec<Row> = DEBEZIUM_DATA
        .lines()
        .flat_map(|line| debezium(&fields, true, Some(line.as_bytes())).unwrap())
        .collect();
    assert_eq!(rows.len(), 3);
    assert!(rows.iter().all(|row| row.kind == RowKind::Insert), "op r");
    let day = NaiveDate::from_ymd_opt(2022, 4, 27).unwrap();
    assert_eq!(
        rows[0].values,
        vec![
            Value::Int(1),
            Value::Bytes(b"hello".to_vec()),
            Value::String("SGVsbG8gd29ybGQ=".into()),
            Value::Smallint(12345),
            Value::Decimal {
                unscaled: 789,
                scale: 0
            },
            Value::Float(12.34),
            // 19109 days since the epoch.
            Value::Date(day),
            // 1651069800000 ms since the epoch.
            Value::Timestamp(day.and_hms_opt(14, 30, 0).unwrap()),
            Value::Timestamp(
                NaiveDate::from_ymd_opt(2023, 4, 27)
                    .unwrap()
                    .and_hms_opt(3, 8, 40)
                    .unwrap()
            ),
            Value::Boolean(true),
            // 52200000000 µs of the day.
            Value::Time(NaiveTime::from_hms_opt(14, 30, 0).unwrap()),
            Value::Tinyint(-128),
            Value::String(r#"{"key": "value"}"#.into()),
            Value::Int(2022),
            Value::Null,
        ]
    );
    assert_eq!(rows[2].values[0], Value::Int(3));
    assert_eq!(rows[2].values[13], Value::Int(2021));
}

#[test]
fn debezium_operations_give_their_row_kinds() {
    let fields = products();
    let decode = |message: &str| debezium(&fields, false, Some(message.as_bytes()));
    let image = |id: i32, weight: &str| {
        format!(r#"{{"id":{id},"name":"n","description":"d","weight":"{weight}"}}"#)
    };
    let create = format!(r#"{{"before":null,"after":{},"op":"c"}}"#, image(1, "1.0"));
    assert_eq!(
        decode(&create).unwrap(),
        vec![product(RowKind::Insert, 1, "n", "d", "1.0")]
    );
    let update = format!(
        r#"{{"before":{},"after":{},"op":"u","ts_ms":1}}"#,
        image(1, "1.0"),
        image(1, "2.0")
    );
    assert_eq!(
        decode(&update).unwrap(),
        vec![
            product(RowKind::UpdateBefore, 1, "n", "d", "1.0"),
            product(RowKind::UpdateAfter, 1, "n", "d", "2.0"),
        ]
    );
    let delete = format!(r#"{{"before":{},"after":null,"op":"d"}}"#, image(1, "2.0"));
    assert_eq!(
        decode(&delete).unwrap(),
        vec![product(RowKind::Delete, 1, "n", "d", "2.0")]
    );
    // The same event inside the schema envelope.
    let wrapped = format!(r#"{{"schema":{{"type":"struct"}},"payload":{delete}}}"#);
    assert_eq!(
        debezium(&fields, true, Some(wrapped.as_bytes())).unwrap(),
        vec![product(RowKind::Delete, 1, "n", "d", "2.0")]
    );
    // What Debezium sends after a delete: no row.
    assert_eq!(debezium(&fields, true, None), Ok(vec![]));
    assert_eq!(debezium(&fields, false, Some(b"")), Ok(vec![]));
}

#[test]
fn debezium_errors_name_the_cause() {
    let fields = products();
    let decode = |message: &str| debezium(&fields, false, Some(message.as_bytes()));
    assert!(
        decode(r#"{"before":null,"after":{"id":1},"op":"u"}"#)
            .unwrap_err()
            .contains("REPLICA IDENTITY to FULL")
    );
    assert!(
        decode(r#"{"after":null,"op":"d"}"#)
            .unwrap_err()
            .contains("the 'before' of a Debezium 'd' event is null")
    );
    assert_eq!(
        decode(r#"{"after":null,"op":"c"}"#).unwrap_err(),
        "the Debezium 'c' event has no 'after'"
    );
    assert_eq!(
        decode(r#"{"after":{"id":1},"op":"t"}"#).unwrap_err(),
        "unknown Debezium operation 't'"
    );
    assert_eq!(
        decode(r#"{"after":{"id":1}}"#).unwrap_err(),
        "the Debezium event has no 'op'"
    );
    assert!(
        debezium(&fields, true, Some(br#"{"after":{"id":1},"op":"c"}"#))
            .unwrap_err()
            .contains("debezium_record_include_schema = false")
    );
    assert_eq!(
        decode(r#"{"after":{"id":"x"},"op":"c"}"#).unwrap_err(),
        "field 'id' must be int, found string \"x\""
    );
}

#[test]
fn debezium_decimals_from_connects_bytes() {
    let fields = vec![(
        "price".to_string(),
        DataType::Decimal {
            precision: 5,
            scale: 2,
        },
    )];
    let decode = |price: &str| {
        debezium(
            &fields,
            false,
            Some(format!(r#"{{"after":{{"price":{price}}},"op":"c"}}"#).as_bytes()),
        )
        .map(|rows| rows[0].values[0].clone())
    };
    // 12345 = 0x3039 → "MDk=", -1 = 0xff → "/w==".
    assert_eq!(
        decode(r#""MDk=""#),
        Ok(Value::Decimal {
            unscaled: 12345,
            scale: 2
        })
    );
    assert_eq!(
        decode(r#""/w==""#),
        Ok(Value::Decimal {
            unscaled: -1,
            scale: 2
        })
    );
    assert_eq!(
        decode("1.5"),
        Ok(Value::Decimal {
            unscaled: 150,
            scale: 2
        })
    );
    // 0x0186a0 = 100000: six digits, more than the precision.
    assert!(decode(r#""AYag""#).is_err());
}
