//! A resolved document written back as text: JSON (a subset of HOCON) with one key per line,
//! so that the master's errors about it still name a useful line.

use std::fmt::Write as _;

use hocon::{HoconValue, ScalarType};

/// `value` as indented JSON, after a `#` comment line `header` (HOCON allows comments).
///
/// Numbers, booleans and null are written as the file wrote them (the same lexeme reads back
/// as the same value); strings and keys are JSON strings, so a key with a dot in it
/// (`"client.id"`) stays one key.
pub(crate) fn render_json(value: &HoconValue, header: &str) -> String {
    let mut out = String::new();
    for line in header.lines() {
        let _ = writeln!(out, "# {line}");
    }
    write_value(&mut out, value, 0);
    out.push('\n');
    out
}

fn write_value(out: &mut String, value: &HoconValue, indent: usize) {
    match value {
        HoconValue::Object(map) if map.is_empty() => out.push_str("{}"),
        HoconValue::Object(map) => {
            out.push_str("{\n");
            for (index, (key, child)) in map.iter().enumerate() {
                pad(out, indent + 1);
                out.push_str(&json_string(key));
                out.push_str(": ");
                write_value(out, child, indent + 1);
                if index + 1 < map.len() {
                    out.push(',');
                }
                out.push('\n');
            }
            pad(out, indent);
            out.push('}');
        }
        HoconValue::Array(items) if items.is_empty() => out.push_str("[]"),
        HoconValue::Array(items) => {
            out.push_str("[\n");
            for (index, item) in items.iter().enumerate() {
                pad(out, indent + 1);
                write_value(out, item, indent + 1);
                if index + 1 < items.len() {
                    out.push(',');
                }
                out.push('\n');
            }
            pad(out, indent);
            out.push(']');
        }
        HoconValue::Scalar(scalar) => match scalar.value_type {
            ScalarType::Number | ScalarType::Boolean | ScalarType::Null => {
                out.push_str(&scalar.raw)
            }
            _ => out.push_str(&json_string(&scalar.raw)),
        },
        // A resolved document holds no placeholders; `null` keeps the text parseable should
        // the library ever leave one.
        _ => out.push_str("null"),
    }
}

fn pad(out: &mut String, indent: usize) {
    for _ in 0..indent {
        out.push_str("  ");
    }
}

fn json_string(text: &str) -> String {
    // Serialising a string cannot fail.
    serde_json::to_string(text).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(text: &str) -> HoconValue {
        let tokens = hocon::tokenize(text).unwrap();
        let ast = hocon::parser::parse_tokens(&tokens).unwrap();
        let options = hocon::resolver::InternalResolveOptions::new(Default::default());
        hocon::resolver::resolve(ast, &options).unwrap()
    }

    #[test]
    fn renders_json_that_reads_back_the_same() {
        let text =
            "a { b = 1, \"c.d\" = \"x\\ny\", e = [true, null, 1.5, {f = g}] }\nh = {}\ni = []";
        let value = resolve(text);
        let rendered = render_json(&value, "from job.conf\nresolved");
        assert!(
            rendered.starts_with("# from job.conf\n# resolved\n{\n"),
            "{rendered}"
        );
        assert!(rendered.contains("\"c.d\": \"x\\ny\""), "{rendered}");
        assert_eq!(resolve(&rendered), value);
    }
}
