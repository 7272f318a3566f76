//! SeaTunnel's Kafka consumer settings written for Kafka's Java client, read as librdkafka's:
//! the legacy plugin-level `kafka.<property>` form, `sasl.jaas.config` for PLAIN and SCRAM
//! (its `username` and `password` become `sasl.username` and `sasl.password`), and
//! `auto.offset.reset = none` (librdkafka's `error`). Kerberos is refused with a message that
//! says it is not supported yet.

use hocon::HoconValue;

use super::error::ConfigError;
use super::section::{Context, join};

/// Why Kerberos settings are refused.
pub(crate) const KERBEROS_REFUSAL: &str = "Kerberos is not supported yet: Weir's Kafka and HDFS \
     clients are built without GSSAPI; use SASL PLAIN or SCRAM (`sasl.mechanism`, \
     `sasl.username`, `sasl.password`, or `sasl.jaas.config`) for Kafka, and simple \
     authentication (`remote_user`) for HDFS";

/// `kafka.config` properties that only Kerberos (GSSAPI) uses.
pub(crate) const KERBEROS_KAFKA_PROPERTIES: &[&str] = &[
    "java.security.krb5.conf",
    "sasl.kerberos.service.name",
    "sasl.kerberos.principal",
    "sasl.kerberos.keytab",
    "sasl.kerberos.kinit.cmd",
    "sasl.kerberos.min.time.before.relogin",
];

/// JAAS login modules whose credentials librdkafka takes as `sasl.username`/`sasl.password`.
const CREDENTIAL_MODULES: &[&str] = &[
    "org.apache.kafka.common.security.plain.PlainLoginModule",
    "org.apache.kafka.common.security.scram.ScramLoginModule",
];

/// The Kerberos login module of Java.
const KERBEROS_MODULE: &str = "com.sun.security.auth.module.Krb5LoginModule";

/// Reads the Java client's forms of the Kafka source block at `path` as librdkafka's (see the
/// module docs); a warning for each legacy property moved.
pub(crate) fn translate_java_kafka_config(
    block: &HoconValue,
    path: &str,
    ctx: &Context,
    warnings: &mut Vec<String>,
) -> Result<HoconValue, ConfigError> {
    let Some(entries) = block.as_object() else {
        return Ok(block.clone());
    };
    let mut entries = entries.clone();
    let mut config = take_config(&mut entries);
    // `kafka { auto.offset.reset = earliest }` beside the options: the legacy form.
    if let Some(HoconValue::Object(legacy)) = entries.get("kafka").cloned() {
        let mut rest = legacy.clone();
        for (key, value) in legacy {
            if key == "config" {
                continue;
            }
            rest.shift_remove(&key);
            let mut leaves = Vec::new();
            flatten(&key, &value, &mut leaves);
            for (property, value) in leaves {
                let option = join(path, &format!("kafka.{property}"));
                if config.contains_key(&property) {
                    return Err(ctx.invalid(
                        option,
                        format!("is set as kafka.config.{property} too: keep one"),
                    ));
                }
                warnings.push(format!(
                    "{}: '{option}' is read as 'kafka.config.{property}': the legacy form of \
                     a consumer property beside the plugin's options; write it in kafka.config",
                    ctx.at(&option)
                ));
                config.insert(property, value);
            }
        }
        if rest.is_empty() {
            entries.shift_remove("kafka");
        } else {
            entries.insert("kafka".to_string(), HoconValue::Object(rest));
        }
    }
    let option = |property: &str| join(path, &format!("kafka.config.{property}"));
    for property in KERBEROS_KAFKA_PROPERTIES {
        if config.contains_key(*property) {
            return Err(unsupported(ctx, option(property), KERBEROS_REFUSAL.into()));
        }
    }
    if config
        .get("sasl.mechanism")
        .and_then(HoconValue::as_str)
        .is_some_and(|mechanism| mechanism.trim().eq_ignore_ascii_case("GSSAPI"))
    {
        return Err(unsupported(
            ctx,
            option("sasl.mechanism"),
            KERBEROS_REFUSAL.into(),
        ));
    }
    if let Some(jaas) = config.shift_remove("sasl.jaas.config") {
        let at = option("sasl.jaas.config");
        let Some(text) = jaas.as_str() else {
            return Err(ctx.invalid(at, "must be a string (a JAAS login entry)"));
        };
        let entry = JaasEntry::parse(text).ok_or_else(|| {
            ctx.invalid(
                at.clone(),
                "cannot be read as a JAAS login entry `<LoginModule> required \
                 username=\"…\" password=\"…\";` (the value is not shown: it holds a password)",
            )
        })?;
        if entry.module == KERBEROS_MODULE {
            return Err(unsupported(ctx, at, KERBEROS_REFUSAL.into()));
        }
        if !CREDENTIAL_MODULES.contains(&entry.module.as_str()) {
            return Err(unsupported(
                ctx,
                at,
                format!(
                    "its login module {} has no librdkafka equivalent: Weir reads the \
                     credentials of {} (as sasl.username and sasl.password)",
                    entry.module,
                    CREDENTIAL_MODULES.join(" and ")
                ),
            ));
        }
        for (jaas_key, property) in [("username", "sasl.username"), ("password", "sasl.password")] {
            let Some(value) = entry.option(jaas_key) else {
                return Err(ctx.invalid(
                    at.clone(),
                    format!("has no {jaas_key}=\"…\" for its {}", entry.module),
                ));
            };
            if config.contains_key(property) {
                return Err(ctx.invalid(
                    at.clone(),
                    format!("gives {property} too, which kafka.config sets: keep one"),
                ));
            }
            config.insert(
                property.to_string(),
                HoconValue::Scalar(hocon::ScalarValue::string(value.to_string())),
            );
        }
    }
    // The Java client's `none` is librdkafka's `error`: fail when there is no offset.
    if config
        .get("auto.offset.reset")
        .and_then(HoconValue::as_str)
        .is_some_and(|reset| reset.trim().eq_ignore_ascii_case("none"))
    {
        config.insert(
            "auto.offset.reset".to_string(),
            HoconValue::Scalar(hocon::ScalarValue::string("error".to_string())),
        );
    }
    if !config.is_empty() {
        let mut kafka = match entries.shift_remove("kafka") {
            Some(HoconValue::Object(kafka)) => kafka,
            _ => ConfigMap::new(),
        };
        kafka.insert("config".to_string(), HoconValue::Object(config));
        entries.insert("kafka".to_string(), HoconValue::Object(kafka));
    }
    Ok(HoconValue::Object(entries))
}

fn unsupported(ctx: &Context, path: String, message: String) -> ConfigError {
    ConfigError::Unsupported {
        at: ctx.at(&path),
        path,
        message,
    }
}

/// Takes `kafka.config` out of a Kafka block (written nested or as one quoted key), as flat
/// `property = value` entries.
fn take_config(entries: &mut indexmap::IndexMap<String, HoconValue>) -> ConfigMap {
    let mut config = ConfigMap::new();
    if let Some(value) = entries.shift_remove("kafka.config") {
        flatten_into("", &value, &mut config);
    }
    if let Some(HoconValue::Object(kafka)) = entries.get_mut("kafka")
        && let Some(value) = kafka.shift_remove("config")
    {
        flatten_into("", &value, &mut config);
        if kafka.is_empty() {
            entries.shift_remove("kafka");
        }
    }
    config
}

type ConfigMap = indexmap::IndexMap<String, HoconValue>;

pub(crate) fn flatten_into(prefix: &str, value: &HoconValue, out: &mut ConfigMap) {
    match value {
        HoconValue::Object(children) if !children.is_empty() => {
            for (key, child) in children {
                let name = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                flatten_into(&name, child, out);
            }
        }
        other => {
            out.insert(prefix.to_string(), other.clone());
        }
    }
}

fn flatten(prefix: &str, value: &HoconValue, out: &mut Vec<(String, HoconValue)>) {
    let mut map = ConfigMap::new();
    flatten_into(prefix, value, &mut map);
    out.extend(map);
}

/// One JAAS login entry: `<module> <flag> (key=value)* ;`.
struct JaasEntry {
    module: String,
    options: Vec<(String, String)>,
}

impl JaasEntry {
    /// `None` when `text` is not one entry of that form (values quoted with `"`, `\"` and
    /// `\\` escaped, or bare words).
    fn parse(text: &str) -> Option<JaasEntry> {
        let mut words = JaasWords {
            rest: text.trim().trim_end_matches(';').trim_end(),
        };
        let module = words.bare()?;
        let flag = words.bare()?;
        if !["required", "requisite", "sufficient", "optional"]
            .iter()
            .any(|known| known.eq_ignore_ascii_case(&flag))
        {
            return None;
        }
        let mut options = Vec::new();
        while !words.rest.is_empty() {
            let key = words.key()?;
            let value = words.value()?;
            options.push((key, value));
        }
        Some(JaasEntry { module, options })
    }

    fn option(&self, key: &str) -> Option<&str> {
        self.options
            .iter()
            .rev()
            .find(|(name, _)| name == key)
            .map(|(_, value)| value.as_str())
    }
}

struct JaasWords<'a> {
    rest: &'a str,
}

impl JaasWords<'_> {
    /// A word up to whitespace.
    fn bare(&mut self) -> Option<String> {
        let rest = self.rest.trim_start();
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        (end > 0).then(|| {
            self.rest = &rest[end..];
            rest[..end].to_string()
        })
    }

    /// `key=` (no spaces in the key).
    fn key(&mut self) -> Option<String> {
        let rest = self.rest.trim_start();
        let end = rest.find('=')?;
        let key = rest[..end].trim();
        if key.is_empty() || key.contains(char::is_whitespace) {
            return None;
        }
        self.rest = &rest[end + 1..];
        Some(key.to_string())
    }

    /// `"quoted"` (with `\"` and `\\`) or a bare word.
    fn value(&mut self) -> Option<String> {
        let rest = self.rest.trim_start();
        let Some(quoted) = rest.strip_prefix('"') else {
            return self.bare();
        };
        let mut value = String::new();
        let mut chars = quoted.char_indices();
        while let Some((at, c)) = chars.next() {
            match c {
                '\\' => value.push(chars.next()?.1),
                '"' => {
                    self.rest = &quoted[at + 1..];
                    return Some(value);
                }
                other => value.push(other),
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::JaasEntry;

    #[test]
    fn jaas_entries_are_read_as_java_reads_them() {
        let entry = JaasEntry::parse(
            "org.apache.kafka.common.security.scram.ScramLoginModule required \
             username=\"admin\" password=\"a \\\"b\\\" c\";",
        )
        .unwrap();
        assert_eq!(
            entry.module,
            "org.apache.kafka.common.security.scram.ScramLoginModule"
        );
        assert_eq!(entry.option("username"), Some("admin"));
        assert_eq!(entry.option("password"), Some("a \"b\" c"));
        let bare = JaasEntry::parse("M optional\n  useKeyTab=true\n  keyTab=\"/k\";").unwrap();
        assert_eq!(bare.option("useKeyTab"), Some("true"));
        assert_eq!(bare.option("keyTab"), Some("/k"));
        for broken in [
            "",
            "M",
            "M maybe a=b;",
            "M required a=\"open;",
            "M required =b;",
        ] {
            assert!(JaasEntry::parse(broken).is_none(), "{broken}");
        }
    }
}
