//! The Grafana dashboard (`deploy/grafana/weir.json`) as the tests read it: the metric names
//! its PromQL uses, and the names a `/metrics` exposition declares and samples.

use std::collections::BTreeSet;

use serde_json::Value;

/// Every metric name the PromQL of deploy/grafana/weir.json uses.
pub fn dashboard_metrics() -> BTreeSet<String> {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/grafana/weir.json");
    let dashboard: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("deploy/grafana/weir.json"))
            .expect("the dashboard is JSON");
    let mut expressions = Vec::new();
    collect_expressions(&dashboard, &mut expressions);
    let used: BTreeSet<String> = expressions.iter().flat_map(|e| metric_names(e)).collect();
    assert!(used.len() >= 15, "the dashboard uses only {used:?}");
    used
}

/// The metric names a PromQL expression uses: `weir_…` identifiers outside quoted strings.
pub fn metric_names(expression: &str) -> BTreeSet<String> {
    // Label values are quoted; blank them out so a value is not taken for a name.
    let mut quoted = false;
    let unquoted: String = expression
        .chars()
        .map(|c| {
            if c == '"' {
                quoted = !quoted;
                ' '
            } else if quoted {
                ' '
            } else {
                c
            }
        })
        .collect();
    let expression = unquoted.as_str();
    let mut names = BTreeSet::new();
    let bytes = expression.as_bytes();
    let mut at = 0;
    while let Some(found) = expression[at..].find("weir_") {
        let start = at + found;
        let preceded =
            start > 0 && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'_');
        let end = expression[start..]
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .map_or(expression.len(), |length| start + length);
        if !preceded {
            names.insert(expression[start..end].to_string());
        }
        at = end;
    }
    names
}

pub fn collect_expressions(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                if let ("expr", Value::String(expression)) = (key.as_str(), value) {
                    out.push(expression.clone());
                } else {
                    collect_expressions(value, out);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| collect_expressions(item, out)),
        _ => {}
    }
}

/// Sample names in an exposition (`name{…} value` or `name value` lines).
pub fn sample_names(exposition: &str) -> BTreeSet<String> {
    exposition
        .lines()
        .filter(|line| !line.starts_with('#') && !line.is_empty())
        .filter_map(|line| line.split(['{', ' ']).next())
        .map(str::to_string)
        .collect()
}

/// Families an exposition declares (`# TYPE` lines), under the names their samples carry.
pub fn declared_names(exposition: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for line in exposition.lines() {
        let mut words = line.split_whitespace();
        if let (Some("#"), Some("TYPE"), Some(name), Some(kind)) =
            (words.next(), words.next(), words.next(), words.next())
        {
            if kind == "histogram" {
                for suffix in ["_bucket", "_sum", "_count"] {
                    names.insert(format!("{name}{suffix}"));
                }
            } else {
                names.insert(name.to_string());
            }
        }
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_read_from_promql_and_expositions() {
        let used = metric_names("sum(rate(weir_a_total{x=\"weir_no\"}[1m])) / my_weir_b + weir_c");
        assert_eq!(used, ["weir_a_total", "weir_c"].map(String::from).into());
        let exposition =
            "# TYPE weir_h histogram\nweir_h_bucket{le=\"1\"} 0\n# TYPE weir_g gauge\n";
        assert!(declared_names(exposition).contains("weir_h_bucket"));
        assert!(declared_names(exposition).contains("weir_g"));
        assert_eq!(
            sample_names(exposition),
            ["weir_h_bucket"].map(String::from).into()
        );
    }
}
