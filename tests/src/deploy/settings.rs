//! Reading and editing the shipped settings files as an operator does with an editor: TOML
//! lines `key = value` under `[table]` headers, `KEY=VALUE` environment files, a systemd unit's
//! directives, and a file held in a ConfigMap's `data`. Line-based on purpose: the tests change
//! only the lines docs/deploy.md tells users to change (addresses and paths), and keep the rest
//! of each file as shipped.

/// `text` with the value of `key` in `[table]` (`None`: before the first table) set to `value`,
/// a TOML literal such as `"\"127.0.0.1:5800\""`. Panics when the file has no such line: the docs
/// only tell users to change lines that are there.
pub fn set(text: &str, table: Option<&str>, key: &str, value: &str) -> String {
    let mut current: Option<String> = None;
    let mut found = false;
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let trimmed = line.trim();
        if let Some(name) = table_header(trimmed) {
            current = Some(name.to_string());
        } else if current.as_deref() == table && line_key(trimmed) == Some(key) {
            out.push_str(&format!("{key} = {value}\n"));
            found = true;
            continue;
        }
        out.push_str(line);
        out.push('\n');
    }
    assert!(
        found,
        "the settings file has no `{key}` in {}:\n{text}",
        table.map_or("its top level".to_string(), |table| format!("[{table}]"))
    );
    out
}

/// The value of `key` in `[table]` (`None`: the top level), a string's quotes removed.
pub fn get(text: &str, table: Option<&str>, key: &str) -> Option<String> {
    let mut current: Option<String> = None;
    for line in text.lines() {
        let trimmed = line.trim();
        if let Some(name) = table_header(trimmed) {
            current = Some(name.to_string());
        } else if current.as_deref() == table && line_key(trimmed) == Some(key) {
            let value = trimmed.split_once('=')?.1.trim();
            return Some(value.trim_matches('"').to_string());
        }
    }
    None
}

fn table_header(line: &str) -> Option<&str> {
    line.strip_prefix('[')?.strip_suffix(']').map(str::trim)
}

fn line_key(line: &str) -> Option<&str> {
    if line.starts_with('#') {
        return None;
    }
    Some(line.split_once('=')?.0.trim())
}

/// The `KEY=VALUE` lines of a systemd `EnvironmentFile` (comments and blank lines skipped).
pub fn env_file(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.trim().to_string(), value.trim().to_string()))
        .collect()
}

/// The directives of a unit file: `(section, key, value)` in order.
pub fn unit_directives(text: &str) -> Vec<(String, String, String)> {
    let mut section = String::new();
    let mut directives = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = table_header(line) {
            section = name.to_string();
        } else if let Some((key, value)) = line.split_once('=') {
            directives.push((
                section.clone(),
                key.trim().to_string(),
                value.trim().to_string(),
            ));
        }
    }
    directives
}

/// The value of the last `key=` of `[section]` in a unit file (systemd: the last one wins).
pub fn unit_value(text: &str, section: &str, key: &str) -> Option<String> {
    unit_directives(text)
        .into_iter()
        .filter(|(s, k, _)| s == section && k == key)
        .map(|(_, _, value)| value)
        .next_back()
}

/// The file `key` of a ConfigMap manifest's `data`, written as a `|` block: the lines after
/// `  KEY: |`, less their common indentation.
pub fn configmap_entry(yaml: &str, key: &str) -> String {
    let header = format!("{key}: |");
    let indent_of = |line: &str| line.len() - line.trim_start().len();
    let all: Vec<&str> = yaml.lines().collect();
    let start = all
        .iter()
        .position(|line| line.trim() == header)
        .unwrap_or_else(|| panic!("the ConfigMap has no `{header}` entry:\n{yaml}"));
    let header_indent = indent_of(all[start]);
    let block: Vec<&str> = all[start + 1..]
        .iter()
        .take_while(|line| line.trim().is_empty() || indent_of(line) > header_indent)
        .copied()
        .collect();
    let indent = block
        .iter()
        .filter(|line| !line.trim().is_empty())
        .map(|line| indent_of(line))
        .min()
        .unwrap_or_default();
    block
        .iter()
        .map(|line| format!("{}\n", line.get(indent..).unwrap_or("")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOML: &str = "listen = \"0.0.0.0:5800\"\nhttp.listen = \"127.0.0.1:5880\"\n# [tls]\n[tls]\ncert = \"/etc/a.pem\"\n";

    #[test]
    fn keys_are_set_in_their_table_only() {
        let text = set(TOML, None, "listen", "\"127.0.0.1:1\"");
        assert!(text.contains("listen = \"127.0.0.1:1\""), "{text}");
        assert_eq!(
            get(&text, None, "http.listen").as_deref(),
            Some("127.0.0.1:5880")
        );
        let text = set(&text, Some("tls"), "cert", "\"/tmp/c.pem\"");
        assert_eq!(
            get(&text, Some("tls"), "cert").as_deref(),
            Some("/tmp/c.pem")
        );
        assert_eq!(get(&text, None, "cert"), None);
    }

    #[test]
    #[should_panic(expected = "no `advertise`")]
    fn a_missing_key_is_an_error() {
        set(TOML, None, "advertise", "\"x\"");
    }

    #[test]
    fn configmap_blocks_are_unindented() {
        let yaml = "data:\n  a.toml: |\n    x = 1\n\n    [t]\n    y = 2\n  b.toml: |\n    z = 3\n";
        assert_eq!(configmap_entry(yaml, "a.toml"), "x = 1\n\n[t]\ny = 2\n");
        assert_eq!(configmap_entry(yaml, "b.toml"), "z = 3\n");
    }

    #[test]
    fn unit_values_and_env_files() {
        let unit =
            "[Service]\nType=notify\n# x=y\nType=simple\n[Install]\nWantedBy=multi-user.target\n";
        assert_eq!(
            unit_value(unit, "Service", "Type").as_deref(),
            Some("simple")
        );
        assert_eq!(unit_value(unit, "Install", "Type"), None);
        assert_eq!(
            env_file("# c\nA=1\n\nB = two\n"),
            vec![("A".into(), "1".into()), ("B".into(), "two".into())]
        );
    }
}
