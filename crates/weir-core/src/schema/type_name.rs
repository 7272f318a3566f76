//! Type declarations as SeaTunnel writes them (its `SeaTunnelDataTypeConvertorUtil`):
//! keywords case-insensitive, `long` / `short` / `byte` as legacy aliases, `decimal(p, s)`,
//! `array<T>` of a basic type, `map<K, V>` with a basic or decimal key, and nested rows
//! written as HOCON or JSON objects inside the text (`map<string, {a = int}>`).

use super::{DataType, Field};

/// Most digits a decimal holds: SeaTunnel's limit, and what an `i128` unscaled value holds.
pub const MAX_DECIMAL_PRECISION: u8 = 38;

/// Nested `array` / `map` / row levels a declaration may have; deeper is refused, so a
/// hostile declaration cannot exhaust the parser's stack.
const MAX_DEPTH: usize = 16;

/// Parses one declaration; the error says why it is not supported.
pub(super) fn parse(text: &str) -> Result<DataType, String> {
    parse_at(text, 0)
}

fn parse_at(text: &str, depth: usize) -> Result<DataType, String> {
    if depth > MAX_DEPTH {
        return Err(format!("nested more than {MAX_DEPTH} levels deep"));
    }
    let trimmed = text.trim();
    let lower = trimmed.to_ascii_lowercase();
    let keyword = match lower.as_str() {
        "long" => "bigint",
        "short" => "smallint",
        "byte" => "tinyint",
        other => other,
    };
    if let Some(basic) = DataType::ALL.iter().find(|t| t.name() == keyword) {
        return Ok(basic.clone());
    }
    let compact: String = lower.chars().filter(|c| !c.is_whitespace()).collect();
    if let Some(parameters) = compact.strip_prefix("decimal") {
        return parse_decimal(parameters);
    }
    if compact.starts_with("array<") {
        let element = parse_at(generic(trimmed)?, depth + 1)?;
        return match element {
            DataType::String
            | DataType::Boolean
            | DataType::Tinyint
            | DataType::Smallint
            | DataType::Int
            | DataType::Bigint
            | DataType::Float
            | DataType::Double => Ok(DataType::Array(Box::new(element))),
            other => Err(format!(
                "an array's elements must be string, boolean, tinyint, smallint, int, bigint, \
                 float or double (as in SeaTunnel), not {other}"
            )),
        };
    }
    if compact.starts_with("map<") {
        let inner = generic(trimmed)?;
        let comma = top_level_comma(inner)
            .ok_or_else(|| "a map needs a key and a value type: map<K, V>".to_string())?;
        let key = parse_at(&inner[..comma], depth + 1)?;
        if !(key.is_basic() || matches!(key, DataType::Decimal { .. })) || key == DataType::Bytes {
            return Err(format!(
                "a map's key must be a basic type or a decimal (as in SeaTunnel), not {key}"
            ));
        }
        let value = parse_at(&inner[comma + 1..], depth + 1)?;
        return Ok(DataType::Map(Box::new(key), Box::new(value)));
    }
    if trimmed.starts_with('{') {
        return parse_row(trimmed, depth + 1).map(DataType::Row);
    }
    Err("not a SeaTunnel type".to_string())
}

/// `(p, s)` after `decimal`, whitespace removed.
fn parse_decimal(parameters: &str) -> Result<DataType, String> {
    let missing = || "a decimal needs its precision and scale: decimal(p, s)".to_string();
    let inside = parameters
        .strip_prefix('(')
        .and_then(|rest| rest.strip_suffix(')'))
        .ok_or_else(missing)?;
    let (precision, scale) = inside.split_once(',').ok_or_else(missing)?;
    let number = |text: &str| text.parse::<u8>().ok();
    let (Some(precision), Some(scale)) = (number(precision), number(scale)) else {
        return Err(missing());
    };
    if precision == 0 || precision > MAX_DECIMAL_PRECISION {
        return Err(format!(
            "a decimal's precision must be 1 to {MAX_DECIMAL_PRECISION}, found {precision}"
        ));
    }
    if scale > precision {
        return Err(format!(
            "a decimal's scale ({scale}) cannot exceed its precision ({precision})"
        ));
    }
    Ok(DataType::Decimal { precision, scale })
}

/// The text between the first `<` and the last `>`.
fn generic(text: &str) -> Result<&str, String> {
    match (text.find('<'), text.rfind('>')) {
        (Some(open), Some(close)) if open < close && text[close + 1..].trim().is_empty() => {
            Ok(&text[open + 1..close])
        }
        _ => Err("unbalanced `<` `>`".to_string()),
    }
}

/// The first comma outside `<>`, `()` and `{}`.
fn top_level_comma(text: &str) -> Option<usize> {
    let mut depth = 0_i32;
    for (at, c) in text.char_indices() {
        match c {
            '<' | '(' | '{' => depth += 1,
            '>' | ')' | '}' => depth -= 1,
            ',' if depth == 0 => return Some(at),
            _ => {}
        }
    }
    None
}

/// A nested row written inside a type declaration: `{a = int, "b": "string", c {d = int}}`
/// (HOCON or JSON), fields separated by commas or line breaks.
fn parse_row(text: &str, depth: usize) -> Result<Vec<Field>, String> {
    if depth > MAX_DEPTH {
        return Err(format!("nested more than {MAX_DEPTH} levels deep"));
    }
    let inner = text
        .strip_prefix('{')
        .and_then(|rest| rest.strip_suffix('}'))
        .ok_or_else(|| "a nested row must be written `{name = type, ...}`".to_string())?;
    let mut fields: Vec<Field> = Vec::new();
    for entry in split_entries(inner)? {
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let (name, declaration) = split_name(entry)?;
        if fields.iter().any(|field| field.name == name) {
            return Err(format!("duplicate field '{name}' in a nested row"));
        }
        let declaration = declaration.trim();
        let data_type = if declaration.starts_with('{') {
            DataType::Row(parse_row(declaration, depth + 1)?)
        } else {
            parse_at(unquote(declaration), depth)?
        };
        fields.push(Field { name, data_type });
    }
    if fields.is_empty() {
        return Err("a nested row declares no fields".to_string());
    }
    Ok(fields)
}

/// Splits at commas and line breaks outside brackets and quotes.
fn split_entries(text: &str) -> Result<Vec<&str>, String> {
    let mut entries = Vec::new();
    let mut depth = 0_i32;
    let mut in_quotes = false;
    let mut start = 0;
    for (at, c) in text.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            '<' | '(' | '{' if !in_quotes => depth += 1,
            '>' | ')' | '}' if !in_quotes => depth -= 1,
            ',' | '\n' if !in_quotes && depth == 0 => {
                entries.push(&text[start..at]);
                start = at + 1;
            }
            _ => {}
        }
        if depth < 0 {
            return Err("unbalanced brackets in a nested row".to_string());
        }
    }
    if depth != 0 || in_quotes {
        return Err("unbalanced brackets or quotes in a nested row".to_string());
    }
    entries.push(&text[start..]);
    Ok(entries)
}

/// `name = type`, `"name": "type"` or `name { ... }`.
fn split_name(entry: &str) -> Result<(String, &str), String> {
    let (name, rest) = if let Some(quoted) = entry.strip_prefix('"') {
        let close = quoted
            .find('"')
            .ok_or_else(|| format!("unclosed quote in {entry:?}"))?;
        (quoted[..close].to_string(), &quoted[close + 1..])
    } else {
        let end = entry
            .find(|c: char| c == '=' || c == ':' || c == '{' || c.is_whitespace())
            .unwrap_or(entry.len());
        (entry[..end].to_string(), &entry[end..])
    };
    let rest = rest.trim_start();
    let declaration = rest
        .strip_prefix('=')
        .or_else(|| rest.strip_prefix(':'))
        .unwrap_or(rest);
    if name.is_empty() || declaration.trim().is_empty() {
        return Err(format!(
            "expected `name = type` in a nested row, found {entry:?}"
        ));
    }
    Ok((name, declaration))
}

fn unquote(text: &str) -> &str {
    text.strip_prefix('"')
        .and_then(|rest| rest.strip_suffix('"'))
        .unwrap_or(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field(name: &str, data_type: DataType) -> Field {
        Field {
            name: name.into(),
            data_type,
        }
    }

    #[test]
    fn keywords_and_legacy_aliases() {
        assert_eq!(parse("TinyInt"), Ok(DataType::Tinyint));
        assert_eq!(parse("long"), Ok(DataType::Bigint));
        assert_eq!(parse("short"), Ok(DataType::Smallint));
        assert_eq!(parse("byte"), Ok(DataType::Tinyint));
        assert_eq!(parse("null"), Ok(DataType::Null));
        assert_eq!(parse(" timestamp "), Ok(DataType::Timestamp));
    }

    #[test]
    fn decimals_need_precision_and_scale_in_range() {
        assert_eq!(
            parse("decimal(10, 2)"),
            Ok(DataType::Decimal {
                precision: 10,
                scale: 2
            })
        );
        assert_eq!(
            parse("DECIMAL(38,18)"),
            Ok(DataType::Decimal {
                precision: 38,
                scale: 18
            })
        );
        assert!(
            parse("decimal")
                .unwrap_err()
                .contains("precision and scale")
        );
        assert!(parse("decimal(39, 2)").unwrap_err().contains("1 to 38"));
        assert!(
            parse("decimal(5, 6)")
                .unwrap_err()
                .contains("cannot exceed")
        );
    }

    #[test]
    fn arrays_and_maps() {
        assert_eq!(
            parse("array<int>"),
            Ok(DataType::Array(Box::new(DataType::Int)))
        );
        assert!(parse("array<date>").unwrap_err().contains("elements"));
        assert_eq!(
            parse("map<decimal(10, 2), array<string>>"),
            Ok(DataType::Map(
                Box::new(DataType::Decimal {
                    precision: 10,
                    scale: 2
                }),
                Box::new(DataType::Array(Box::new(DataType::String)))
            ))
        );
        assert!(parse("map<int>").unwrap_err().contains("key and a value"));
        assert!(parse("map<array<int>, int>").unwrap_err().contains("key"));
    }

    #[test]
    fn nested_rows_in_hocon_and_json_form() {
        // schema-feature.md's example, both spellings.
        let expected = DataType::Map(
            Box::new(DataType::String),
            Box::new(DataType::Row(vec![
                field("c_int", DataType::Int),
                field("c_string", DataType::String),
                field("c_row", DataType::Row(vec![field("c_int", DataType::Int)])),
            ])),
        );
        assert_eq!(
            parse("map<string, {c_int = int, c_string = string, c_row = {c_int = int}}>"),
            Ok(expected.clone())
        );
        assert_eq!(
            parse(r#"map<string, {"c_int":"int", "c_string":"string", "c_row":{"c_int":"int"}}>"#),
            Ok(expected)
        );
        assert!(parse("{}").unwrap_err().contains("no fields"));
        assert!(
            parse("{a = int, a = int}")
                .unwrap_err()
                .contains("duplicate")
        );
    }

    #[test]
    fn display_reads_back() {
        for text in [
            "decimal(10, 2)",
            "array<bigint>",
            "map<string, {a = \"int\", b = \"map<int, string>\"}>",
        ] {
            let parsed = parse(text).unwrap();
            assert_eq!(parse(&parsed.to_string()), Ok(parsed));
        }
    }

    #[test]
    fn hostile_declarations_are_refused() {
        assert!(
            parse("varchar")
                .unwrap_err()
                .contains("not a SeaTunnel type")
        );
        let deep = format!("{}int{}", "map<int, ".repeat(40), ">".repeat(40));
        assert!(parse(&deep).unwrap_err().contains("levels deep"));
        assert!(parse("array<int").is_err());
        assert!(parse("{a = int").is_err());
    }
}
