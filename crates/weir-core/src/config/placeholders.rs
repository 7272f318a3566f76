//! SeaTunnel's placeholders inside strings: `${name}` and `${name:default}`.
//!
//! HOCON substitutes only unquoted `${name}`; SeaTunnel's job loader then replaces, in every
//! string value of the resolved job, each `${name}` by the job variable `name` (`-i
//! name=value`) and `${name:default}` by the variable or, when it is unset or empty, by
//! `default`. A placeholder with neither stays as written: `${transactionId}` and `${k0}` of
//! the file sinks and `${table_name}` of the sinks (see [`table`]) are placeholders of their
//! own, filled later. The same rules apply to a sink's table placeholders, with the source's
//! table as the values.

use hocon::HoconValue;

/// What a placeholder becomes: `fill(name, default)` gives its text, or `None` to keep it as
/// written.
pub(crate) type Fill<'a> = dyn Fn(&str, Option<&str>) -> Option<String> + 'a;

/// The job variables' fill: `value(name)` is the value of `${name}` (an empty value counts as
/// unset, as in SeaTunnel); a placeholder without a value takes its `:default`, trimmed, or
/// stays as written.
pub(crate) fn variables<'a>(
    value: &'a dyn Fn(&str) -> Option<String>,
) -> impl Fn(&str, Option<&str>) -> Option<String> + 'a {
    move |name, default| {
        value(name)
            .filter(|value| !value.is_empty())
            .or_else(|| default.map(|default| default.trim().to_string()))
    }
}

/// Replaces the placeholders of `text` as `fill` says; `None` when nothing was replaced.
pub(crate) fn replace(text: &str, fill: &Fill<'_>) -> Option<String> {
    let mut out = String::new();
    let mut rest = text;
    let mut replaced = false;
    while let Some(start) = rest.find("${") {
        let after = &rest[start + 2..];
        let Some(placeholder) = Placeholder::parse(after) else {
            // Not a placeholder here: keep "${" and look further.
            out.push_str(&rest[..start + 2]);
            rest = after;
            continue;
        };
        out.push_str(&rest[..start]);
        match fill(placeholder.name, placeholder.default) {
            Some(filled) => {
                out.push_str(&filled);
                replaced = true;
            }
            None => out.push_str(&rest[start..start + 2 + placeholder.len]),
        }
        rest = &after[placeholder.len..];
    }
    replaced.then(|| {
        out.push_str(rest);
        out
    })
}

/// Replaces the placeholders of every string of `value` (see [`replace`]).
pub(crate) fn replace_in_strings(value: &mut HoconValue, fill: &Fill<'_>) {
    match value {
        HoconValue::Object(fields) => {
            for field in fields.values_mut() {
                replace_in_strings(field, fill);
            }
        }
        HoconValue::Array(items) => {
            for item in items {
                replace_in_strings(item, fill);
            }
        }
        HoconValue::Scalar(scalar) if value_is_string(scalar) => {
            if let Some(replaced) = replace(&scalar.raw, fill) {
                scalar.raw = replaced;
            }
        }
        _ => {}
    }
}

fn value_is_string(scalar: &hocon::ScalarValue) -> bool {
    scalar.value_type == hocon::ScalarType::String
}

/// `name}` or `name:default}` after a `${`, as SeaTunnel's `\$\{([^:{}]+)(?::[^}]*)?\}`.
struct Placeholder<'a> {
    name: &'a str,
    default: Option<&'a str>,
    /// Bytes from after `${` to after `}`.
    len: usize,
}

impl<'a> Placeholder<'a> {
    fn parse(after: &'a str) -> Option<Self> {
        let name_end = after.find([':', '{', '}'])?;
        if name_end == 0 || after.as_bytes()[name_end] == b'{' {
            return None;
        }
        let name = &after[..name_end];
        if after.as_bytes()[name_end] == b'}' {
            return Some(Placeholder {
                name,
                default: None,
                len: name_end + 1,
            });
        }
        let default_start = name_end + 1;
        let close = after[default_start..].find('}')? + default_start;
        Some(Placeholder {
            name,
            default: Some(&after[default_start..close]),
            len: close + 1,
        })
    }
}

/// SeaTunnel's table placeholders of sink options (its `TablePlaceholder`), filled from the
/// source's table.
pub(crate) mod table {
    /// The placeholders SeaTunnel reserves: a job variable may not take one of these names.
    pub const NAMES: [&str; 8] = [
        "database_name",
        "schema_name",
        "schema_full_name",
        "table_name",
        "table_full_name",
        "primary_key",
        "unique_key",
        "field_names",
    ];

    /// The placeholders filled from the table's path; the others (`primary_key`,
    /// `unique_key`, `field_names`) stay as written, as Weir's file sinks have no use for them.
    pub(crate) const IDENTIFIER_PLACEHOLDERS: [&str; 5] = [
        "database_name",
        "schema_name",
        "schema_full_name",
        "table_name",
        "table_full_name",
    ];

    /// A table's path as SeaTunnel's `TablePath`: database, schema and table, each optional.
    #[derive(Debug, Clone, Default, PartialEq, Eq)]
    pub(crate) struct TablePath {
        pub database: Option<String>,
        pub schema: Option<String>,
        pub table: Option<String>,
    }

    impl TablePath {
        /// SeaTunnel's `TablePath.DEFAULT`, the table of a source whose schema names none.
        pub(crate) fn default_table() -> Self {
            let default = Some("default".to_string());
            TablePath {
                database: default.clone(),
                schema: default.clone(),
                table: default,
            }
        }

        /// `a`, `a.b` or `a.b.c` as SeaTunnel's `TablePath.of(name)`: one part is the table,
        /// two are database and table, three are database, schema and table. More parts are
        /// `None`.
        pub(crate) fn of(full_name: &str) -> Option<Self> {
            let parts: Vec<String> = full_name.split('.').map(str::to_string).collect();
            match parts.as_slice() {
                [table] => Some(TablePath {
                    table: Some(table.clone()),
                    ..TablePath::default()
                }),
                [database, table] => Some(TablePath {
                    database: Some(database.clone()),
                    table: Some(table.clone()),
                    ..TablePath::default()
                }),
                [database, schema, table] => Some(TablePath {
                    database: Some(database.clone()),
                    schema: Some(schema.clone()),
                    table: Some(table.clone()),
                }),
                _ => None,
            }
        }

        /// The text of the table placeholder `${name}` or `${name:default}`, as SeaTunnel's
        /// `TablePlaceholderProcessor` fills it: a missing part is its default or the empty
        /// string, the full names join the parts present with dots (and stay as written when
        /// none is); `None` for the placeholders it leaves alone here (keys, other names).
        pub(crate) fn fill(&self, name: &str, default: Option<&str>) -> Option<String> {
            let part = |part: &Option<String>| {
                Some(match part.as_deref().filter(|part| !part.is_empty()) {
                    Some(part) => part.to_string(),
                    None => default.map(str::trim).unwrap_or_default().to_string(),
                })
            };
            let joined = |parts: &[&Option<String>]| {
                let present: Vec<&str> = parts.iter().filter_map(|p| p.as_deref()).collect();
                (!present.is_empty()).then(|| present.join("."))
            };
            match name {
                "database_name" => part(&self.database),
                "schema_name" => part(&self.schema),
                "table_name" => part(&self.table),
                "schema_full_name" => joined(&[&self.database, &self.schema]),
                "table_full_name" => joined(&[&self.database, &self.schema, &self.table]),
                _ => None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::table::TablePath;
    use super::*;

    fn vars_of(name: &str) -> Option<String> {
        match name {
            "rowNum" => Some("10".into()),
            "empty" => Some(String::new()),
            _ => None,
        }
    }

    #[test]
    fn variables_and_defaults_fill_placeholders_and_others_stay() {
        let fill = variables(&vars_of);
        let replace = |text: &str| replace(text, &fill);
        assert_eq!(replace("${rowNum}").as_deref(), Some("10"));
        assert_eq!(replace("${rowNum:50}").as_deref(), Some("10"));
        assert_eq!(replace("${other:50}").as_deref(), Some("50"));
        assert_eq!(replace("${other: spaced }").as_deref(), Some("spaced"));
        // An empty variable counts as unset.
        assert_eq!(replace("${empty:d}").as_deref(), Some("d"));
        assert_eq!(replace("${empty}"), None);
        assert_eq!(
            replace("${resName:fake}_table where '${rowNum}' ${k0}=${v0}").as_deref(),
            Some("fake_table where '10' ${k0}=${v0}")
        );
        // Not placeholders: nothing changes.
        for text in [
            "${transactionId}_${now}",
            "${",
            "${}",
            "$ {x}",
            "${a{b}",
            "${x:open",
        ] {
            assert_eq!(replace(text), None, "{text}");
        }
        assert_eq!(replace("${${rowNum}").as_deref(), Some("${10"));
    }

    #[test]
    fn table_placeholders_follow_seatunnels_table_path() {
        let topic = TablePath::of("orders").unwrap();
        assert_eq!(topic.fill("table_name", None).as_deref(), Some("orders"));
        assert_eq!(topic.fill("database_name", None).as_deref(), Some(""));
        assert_eq!(
            topic.fill("database_name", Some(" db ")).as_deref(),
            Some("db")
        );
        assert_eq!(topic.fill("schema_full_name", None), None);
        assert_eq!(
            topic.fill("table_full_name", None).as_deref(),
            Some("orders")
        );
        assert_eq!(topic.fill("field_names", None), None);
        assert_eq!(topic.fill("primary_key", None), None);
        let full = TablePath::of("db.sch.t").unwrap();
        assert_eq!(
            full.fill("schema_full_name", None).as_deref(),
            Some("db.sch")
        );
        let two = TablePath::of("db.t").unwrap();
        assert_eq!(two.database.as_deref(), Some("db"));
        assert_eq!(TablePath::of("a.b.c.d"), None);
        assert_eq!(
            TablePath::default_table()
                .fill("table_full_name", None)
                .as_deref(),
            Some("default.default.default")
        );
    }
}
