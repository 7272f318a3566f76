//! The examples of SeaTunnel's transform documentation (`docs/en/transform-v2/*.md`): input
//! row → output row, and the schema each step checks.

use super::*;
use crate::config::FieldPairs;

/// The table of SeaTunnel's examples: `name`, `age`, `card`.
fn people() -> (Schema, Vec<Row>) {
    let schema = Schema::new([
        ("name", DataType::String),
        ("age", DataType::Int),
        ("card", DataType::Int),
    ]);
    let rows = ["Joy Ding", "May Ding", "Kin Dom", "Joy Dom"]
        .into_iter()
        .map(|name| {
            Row::new(vec![
                Value::String(name.into()),
                Value::Int(20),
                Value::Int(123),
            ])
        })
        .collect();
    (schema, rows)
}

fn s(text: &str) -> Value {
    Value::String(text.into())
}

fn pairs(list: &[(&str, &str)]) -> FieldPairs {
    FieldPairs(
        list.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect(),
    )
}

fn chain(schema: &Schema, configs: Vec<TransformConfig>) -> TransformChain {
    TransformChain::plan(schema, configs, &mut Vec::new()).unwrap()
}

fn plan_err(schema: &Schema, config: TransformConfig) -> PlanError {
    TransformChain::plan(schema, vec![config], &mut Vec::new()).unwrap_err()
}

fn names(schema: &Schema) -> Vec<&str> {
    schema.fields.iter().map(|f| f.name.as_str()).collect()
}

fn field_mapper(list: &[(&str, &str)]) -> TransformConfig {
    TransformConfig::FieldMapper(FieldMapperConfig {
        field_mapper: pairs(list),
        plugin_input: None,
        plugin_output: None,
    })
}

fn filter(include: Option<&[&str]>, exclude: Option<&[&str]>) -> TransformConfig {
    let list = |names: &[&str]| names.iter().map(|n| n.to_string()).collect();
    TransformConfig::Filter(FilterConfig {
        include_fields: include.map(list),
        exclude_fields: exclude.map(list),
        plugin_input: None,
        plugin_output: None,
    })
}

fn replace(field: &str, pattern: &str, replacement: &str, regex: bool) -> ReplaceConfig {
    ReplaceConfig {
        replace_field: field.into(),
        pattern: pattern.into(),
        replacement: replacement.into(),
        is_regex: regex,
        replace_first: false,
        plugin_input: None,
        plugin_output: None,
    }
}

fn split(separator: &str, field: &str, outputs: &[&str]) -> TransformConfig {
    TransformConfig::Split(SplitConfig {
        separator: separator.into(),
        split_field: field.into(),
        output_fields: outputs.iter().map(|n| n.to_string()).collect(),
        plugin_input: None,
        plugin_output: None,
    })
}

#[test]
fn field_mapper_keeps_renames_and_reorders_as_the_seatunnel_example() {
    let schema = Schema::new([
        ("id", DataType::Bigint),
        ("name", DataType::String),
        ("age", DataType::Int),
        ("card", DataType::Int),
    ]);
    let chain = chain(
        &schema,
        vec![field_mapper(&[
            ("id", "id"),
            ("card", "card"),
            ("name", "new_name"),
        ])],
    );
    let output = chain.output_schema(&schema);
    assert_eq!(names(&output), ["id", "card", "new_name"]);
    assert_eq!(output.fields[2].data_type, DataType::String);
    let row = Row::with_kind(
        vec![
            Value::Bigint(1),
            s("Joy Ding"),
            Value::Int(20),
            Value::Int(123),
        ],
        RowKind::UpdateAfter,
    );
    let out = chain.apply(row).unwrap();
    assert_eq!(
        out.values,
        [Value::Bigint(1), Value::Int(123), s("Joy Ding")]
    );
    assert_eq!(out.kind, RowKind::UpdateAfter, "the row kind is kept");

    let error = plan_err(&schema, field_mapper(&[("nope", "x")]));
    assert_eq!(error.option, "field_mapper.nope");
    assert!(error.message.contains("'nope'"), "{error}");
    let error = plan_err(&schema, field_mapper(&[("id", "x"), ("name", "x")]));
    assert_eq!(error.option, "field_mapper.name");
}

#[test]
fn filter_includes_in_its_order_or_excludes_as_the_seatunnel_example() {
    let (schema, rows) = people();
    let include = chain(&schema, vec![filter(Some(&["name", "card"]), None)]);
    let exclude = chain(&schema, vec![filter(None, Some(&["age"]))]);
    for chain in [&include, &exclude] {
        assert_eq!(names(&chain.output_schema(&schema)), ["name", "card"]);
        let out: Vec<Vec<Value>> = rows
            .iter()
            .map(|row| chain.apply(row.clone()).unwrap().values)
            .collect();
        assert_eq!(out[0], [s("Joy Ding"), Value::Int(123)]);
        assert_eq!(out[3], [s("Joy Dom"), Value::Int(123)]);
    }
    // `include_fields` sets the output order, as SeaTunnel's FilterFieldTransform does.
    let reordered = chain(&schema, vec![filter(Some(&["card", "name"]), None)]);
    assert_eq!(names(&reordered.output_schema(&schema)), ["card", "name"]);

    let error = plan_err(&schema, filter(Some(&["name", "nope"]), None));
    assert_eq!(error.option, "include_fields");
    let error = plan_err(&schema, filter(None, Some(&["name", "age", "card"])));
    assert!(error.message.contains("no field"), "{error}");
    let error = plan_err(&schema, filter(Some(&["name", "name"]), None));
    assert!(error.message.contains("twice"), "{error}");
}

#[test]
fn copy_appends_copies_as_the_seatunnel_example() {
    let (schema, rows) = people();
    let config = TransformConfig::Copy(CopyConfig {
        fields: Some(pairs(&[
            ("name1", "name"),
            ("name2", "name"),
            ("age1", "age"),
        ])),
        src_field: None,
        dest_field: None,
        plugin_input: None,
        plugin_output: None,
    });
    let chain = chain(&schema, vec![config]);
    let output = chain.output_schema(&schema);
    assert_eq!(
        names(&output),
        ["name", "age", "card", "name1", "name2", "age1"]
    );
    assert_eq!(output.fields[5].data_type, DataType::Int);
    let out = chain.apply(rows[1].clone()).unwrap();
    assert_eq!(
        out.values,
        [
            s("May Ding"),
            Value::Int(20),
            Value::Int(123),
            s("May Ding"),
            s("May Ding"),
            Value::Int(20)
        ]
    );

    let legacy = TransformConfig::Copy(CopyConfig {
        fields: None,
        src_field: Some("card".into()),
        dest_field: Some("age".into()),
        plugin_input: None,
        plugin_output: None,
    });
    let error = plan_err(&schema, legacy);
    assert_eq!(error.option, "dest_field");
    assert!(error.message.contains("already have"), "{error}");
}

#[test]
fn replace_as_the_seatunnel_examples() {
    let (schema, rows) = people();
    // The example: ' ' → '_' with is_regex = true.
    let space = chain(
        &schema,
        vec![TransformConfig::Replace(replace("name", " ", "_", true))],
    );
    let names_out: Vec<Value> = rows
        .iter()
        .map(|row| space.apply(row.clone()).unwrap().values[0].clone())
        .collect();
    assert_eq!(
        names_out,
        [s("Joy_Ding"), s("May_Ding"), s("Kin_Dom"), s("Joy_Dom")]
    );
    // The job config example: `.+` → `b`.
    let all = chain(
        &schema,
        vec![TransformConfig::Replace(replace("name", ".+", "b", true))],
    );
    assert_eq!(all.apply(rows[0].clone()).unwrap().values[0], s("b"));

    // A literal pattern: every occurrence, regex characters as themselves (String.replace).
    let literal = chain(
        &schema,
        vec![TransformConfig::Replace(replace("name", "o.", "0", false))],
    );
    let row = Row::new(vec![s("Joy Do. o."), Value::Int(1), Value::Int(2)]);
    assert_eq!(literal.apply(row).unwrap().values[0], s("Joy D0 0"));

    // replace_first, group references and an escaped dollar, as Java's replaceFirst.
    let mut first = replace("name", "(\\w+) (\\w+)", "$2, $1 \\$", true);
    first.replace_first = true;
    let first = chain(&schema, vec![TransformConfig::Replace(first)]);
    let row = Row::new(vec![s("Joy Ding May Ding"), Value::Int(1), Value::Int(2)]);
    assert_eq!(
        first.apply(row).unwrap().values[0],
        s("Ding, Joy $ May Ding")
    );

    // Null stays null.
    let row = Row::new(vec![Value::Null, Value::Int(1), Value::Int(2)]);
    assert_eq!(space.apply(row).unwrap().values[0], Value::Null);

    let error = plan_err(
        &schema,
        TransformConfig::Replace(replace("age", "2", "3", false)),
    );
    assert_eq!(error.option, "replace_field");
    assert!(error.message.contains("type int"), "{error}");
    let error = plan_err(
        &schema,
        TransformConfig::Replace(replace("name", "(", "x", true)),
    );
    assert_eq!(error.option, "pattern");
    let error = plan_err(
        &schema,
        TransformConfig::Replace(replace("name", "a", "$1", true)),
    );
    assert_eq!(error.option, "replacement");
    assert!(error.message.contains("group 1"), "{error}");
}

#[test]
fn replace_first_without_regex_is_ignored_with_a_warning_as_in_seatunnel() {
    let (schema, _) = people();
    let mut config = replace("name", "o", "0", false);
    config.replace_first = true;
    let mut warnings = Vec::new();
    let chain = TransformChain::plan(
        &schema,
        vec![TransformConfig::Replace(config)],
        &mut warnings,
    )
    .unwrap();
    assert_eq!(warnings.len(), 1);
    assert_eq!(warnings[0].1, "replace_first");
    let row = Row::new(vec![s("Joy Dom"), Value::Int(1), Value::Int(2)]);
    assert_eq!(chain.apply(row).unwrap().values[0], s("J0y D0m"));
}

#[test]
fn split_appends_string_pieces_as_the_seatunnel_example() {
    let (schema, rows) = people();
    let chain = chain(
        &schema,
        vec![split(" ", "name", &["first_name", "second_name"])],
    );
    let output = chain.output_schema(&schema);
    assert_eq!(
        names(&output),
        ["name", "age", "card", "first_name", "second_name"]
    );
    assert_eq!(output.fields[4].data_type, DataType::String);
    let out = chain.apply(rows[2].clone()).unwrap();
    assert_eq!(
        out.values,
        [
            s("Kin Dom"),
            Value::Int(20),
            Value::Int(123),
            s("Kin"),
            s("Dom")
        ]
    );
}

#[test]
fn split_follows_javas_string_split_with_a_limit() {
    let schema = Schema::new([("t", DataType::String)]);
    let pieces = |separator: &str, text: Option<&str>, n: usize| {
        let outputs: Vec<String> = (0..n).map(|i| format!("p{i}")).collect();
        let outputs: Vec<&str> = outputs.iter().map(String::as_str).collect();
        let chain = chain(&schema, vec![split(separator, "t", &outputs)]);
        let value = text.map(s).unwrap_or(Value::Null);
        chain.apply(Row::new(vec![value])).unwrap().values[1..].to_vec()
    };
    // The last piece takes the rest; missing pieces are null; trailing empties are kept.
    assert_eq!(pieces(",", Some("a,b,c"), 2), [s("a"), s("b,c")]);
    assert_eq!(
        pieces(",", Some("a"), 3),
        [s("a"), Value::Null, Value::Null]
    );
    assert_eq!(
        pieces(",", Some("a,b,,"), 4),
        [s("a"), s("b"), s(""), s("")]
    );
    assert_eq!(pieces(",", Some(",a"), 2), [s(""), s("a")]);
    assert_eq!(pieces(",", None, 2), [Value::Null, Value::Null]);
    // A regular expression; a zero-width match at the start makes no empty first piece.
    assert_eq!(pieces("\\s*;\\s*", Some("a ; b"), 2), [s("a"), s("b")]);
    assert_eq!(pieces("", Some("abc"), 4), [s("a"), s("b"), s("c"), s("")]);

    // A number is split as its text, as SeaTunnel's e2e `split_transform.conf` splits an int.
    let numbers = Schema::new([("age", DataType::Int)]);
    let by_one = chain(&numbers, vec![split("1", "age", &["f1", "f2"])]);
    let out = by_one.apply(Row::new(vec![Value::Int(21_315)])).unwrap();
    assert_eq!(out.values[1..], [s("2"), s("315")]);
    let dates = Schema::new([("d", DataType::Date)]);
    let error = plan_err(&dates, split("-", "d", &["y"]));
    assert!(error.message.contains("type date"), "{error}");

    let error = plan_err(&schema, split(",", "t", &["t"]));
    assert_eq!(error.option, "output_fields");
    assert!(error.message.contains("already have"), "{error}");
}

#[test]
fn filter_row_kind_keeps_or_drops_by_kind() {
    let (schema, rows) = people();
    let kinds = |include: &[&str], exclude: &[&str]| {
        let list = |names: &[&str]| names.iter().map(|n| n.to_string()).collect();
        chain(
            &schema,
            vec![TransformConfig::FilterRowKind(FilterRowKindConfig {
                include_kinds: list(include),
                exclude_kinds: list(exclude),
                plugin_input: None,
                plugin_output: None,
            })],
        )
    };
    // SeaTunnel's example: FakeSource's rows are INSERTs; excluding INSERT writes nothing.
    let no_inserts = kinds(&[], &["INSERT"]);
    assert!(
        rows.iter()
            .all(|row| no_inserts.apply(row.clone()).is_none())
    );
    let delete = Row::with_kind(rows[0].values.clone(), RowKind::Delete);
    assert_eq!(no_inserts.apply(delete.clone()), Some(delete.clone()));

    let only_updates = kinds(&["UPDATE_BEFORE", "update_after"], &[]);
    assert!(only_updates.apply(delete).is_none());
    let after = Row::with_kind(rows[0].values.clone(), RowKind::UpdateAfter);
    assert_eq!(only_updates.apply(after.clone()), Some(after));
    assert_eq!(only_updates.output_schema(&schema), schema);
}

#[test]
fn a_chain_applies_its_steps_in_order_on_the_schema_before_it() {
    let (schema, rows) = people();
    let chain = chain(
        &schema,
        vec![
            field_mapper(&[("name", "full_name"), ("card", "card")]),
            TransformConfig::Replace(replace("full_name", " ", "-", false)),
            filter(Some(&["full_name"]), None),
        ],
    );
    assert_eq!(names(&chain.output_schema(&schema)), ["full_name"]);
    assert_eq!(
        chain.apply(rows[0].clone()).unwrap().values,
        [s("Joy-Ding")]
    );
    // A later step sees the names of the steps before it.
    let error = TransformChain::plan(
        &schema,
        vec![
            field_mapper(&[("name", "full_name")]),
            filter(Some(&["name"]), None),
        ],
        &mut Vec::new(),
    )
    .unwrap_err();
    assert_eq!((error.step, error.option.as_str()), (1, "include_fields"));
    assert!(error.message.contains("fields: full_name"), "{error}");
}

#[test]
fn the_reservation_counts_what_steps_allocate_and_nothing_for_moves() {
    let (schema, _) = people();
    let moves = chain(&schema, vec![filter(Some(&["name"]), None)]);
    assert_eq!(moves.reserved_bytes(1000), SLOT_BYTES);
    assert_eq!(TransformChain::default().reserved_bytes(1000), 0);

    let copies = chain(
        &schema,
        vec![TransformConfig::Copy(CopyConfig {
            fields: Some(pairs(&[("a", "name"), ("b", "name")])),
            src_field: None,
            dest_field: None,
            plugin_input: None,
            plugin_output: None,
        })],
    );
    assert_eq!(copies.reserved_bytes(1000), 2 * (1000 + SLOT_BYTES));
    // Replace's worst case: every position an empty match, each replaced.
    let replaced = chain(
        &schema,
        vec![TransformConfig::Replace(replace("name", "", "xy", false))],
    );
    assert_eq!(replaced.reserved_bytes(1000), 1001 * 3);
    let text = "a".repeat(1000);
    let row = Row::new(vec![s(&text), Value::Int(1), Value::Int(2)]);
    let grown = replaced.apply(row.clone()).unwrap();
    assert!(grown.size_bytes() - row.size_bytes() <= replaced.reserved_bytes(row.size_bytes()));
    // A regex step also reserves its compiled program and caches.
    let regex = chain(
        &schema,
        vec![TransformConfig::Replace(replace("name", "a+", "b", true))],
    );
    assert_eq!(regex.reserved_bytes(1000), 1001 * 2 + REGEX_RESERVED_BYTES);
}
