//! `hdfs_site_path` of SeaTunnel's HdfsFile sink: a Hadoop `hdfs-site.xml` whose properties
//! the client reads (`weir validate`, `weir submit`, `weir local`) and adds to the sink's Hadoop
//! settings (`hdfs.config`, or `hadoop_conf` where the job uses that name), so the job sent to
//! the master holds them and validate checks them like any other setting. The job's own
//! settings win over the file's. The master and the workers read no file: a job text that
//! still names one is refused there (`compat_sink::HDFS_SITE_PATH_REFUSAL`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use hocon::HoconValue;

use super::compat_kafka::flatten_into;
use super::document::Document;
use super::error::{ConfigError, Location};
use super::policy::ClientHost;

/// The most bytes of an `hdfs_site_path` file the client reads.
pub(crate) const MAX_HDFS_SITE_BYTES: u64 = 1 << 20;

/// Reads the `hdfs_site_path` of the document's sink blocks through `host` (a relative path
/// is relative to the job file at `job_path`) and adds the file's properties to the block's
/// Hadoop settings; whether any file was read.
pub(crate) fn apply(
    document: &mut Document,
    job_path: &Path,
    host: &dyn ClientHost,
    origin: &str,
) -> Result<bool, ConfigError> {
    let HoconValue::Object(root) = &mut document.value else {
        return Ok(false);
    };
    let Some(HoconValue::Object(sinks)) = root.get_mut("sink") else {
        return Ok(false);
    };
    let mut read = false;
    for (plugin, block) in sinks.iter_mut() {
        let HoconValue::Object(block) = block else {
            continue;
        };
        let Some(value) = block.get("hdfs_site_path") else {
            continue;
        };
        let option = format!("sink.{plugin}.hdfs_site_path");
        let invalid = |message: String| ConfigError::InvalidValue {
            at: Location {
                origin: Arc::from(origin),
                line: document.keys.line_of(&option),
                column: None,
            },
            path: option.clone(),
            message,
        };
        let Some(written) = value.as_str() else {
            return Err(invalid("must be a string (a file path)".into()));
        };
        let file = resolve(job_path, written.trim());
        let text = host
            .read_file(&file, MAX_HDFS_SITE_BYTES)
            .map_err(|message| invalid(format!("cannot read {}: {message}", file.display())))?
            .ok_or_else(|| invalid(format!("{} does not exist", file.display())))?;
        let properties = properties(&text)
            .map_err(|message| invalid(format!("{}: {message}", file.display())))?;
        block.shift_remove("hdfs_site_path");
        add_properties(block, properties);
        read = true;
    }
    Ok(read)
}

fn resolve(job_path: &Path, written: &str) -> PathBuf {
    let written = Path::new(written);
    if written.is_absolute() {
        return written.to_path_buf();
    }
    job_path
        .parent()
        .map_or_else(|| written.to_path_buf(), |dir| dir.join(written))
}

type Map = indexmap::IndexMap<String, HoconValue>;

/// Adds `properties` to `hadoop_conf` when the block sets it, else to `hdfs.config`; a
/// property the block sets already keeps the block's value.
fn add_properties(block: &mut Map, properties: Vec<(String, String)>) {
    let hadoop_conf = block.contains_key("hadoop_conf");
    // The block's own settings, flat, whichever way they are written.
    let mut settings = Map::new();
    if hadoop_conf {
        if let Some(value) = block.shift_remove("hadoop_conf") {
            flatten_into("", &value, &mut settings);
        }
    } else {
        if let Some(value) = block.shift_remove("hdfs.config") {
            flatten_into("", &value, &mut settings);
        }
        if let Some(HoconValue::Object(hdfs)) = block.get_mut("hdfs")
            && let Some(value) = hdfs.shift_remove("config")
        {
            flatten_into("", &value, &mut settings);
        }
    }
    for (name, value) in properties {
        settings
            .entry(name)
            .or_insert_with(|| HoconValue::Scalar(hocon::ScalarValue::string(value)));
    }
    if hadoop_conf {
        block.insert("hadoop_conf".into(), HoconValue::Object(settings));
    } else {
        let mut hdfs = match block.shift_remove("hdfs") {
            Some(HoconValue::Object(hdfs)) => hdfs,
            _ => Map::new(),
        };
        hdfs.insert("config".into(), HoconValue::Object(settings));
        block.insert("hdfs".into(), HoconValue::Object(hdfs));
    }
}

/// The properties of a Hadoop configuration file, `<configuration>` holding
/// `<property><name>…</name><value>…</value></property>` entries, in order (names and values
/// trimmed, XML entities decoded, comments skipped).
pub(crate) fn properties(xml: &str) -> Result<Vec<(String, String)>, String> {
    let text = without_comments(xml)?;
    if !text.contains("<configuration") {
        return Err("is not a Hadoop configuration file (no <configuration> element)".into());
    }
    let mut out = Vec::new();
    let mut rest = text.as_str();
    while let Some(start) = find_tag(rest, "property") {
        let after = &rest[start..];
        let end = after
            .find("</property>")
            .ok_or("a <property> element is not closed")?;
        let body = &after[..end];
        let name = element(body, "name")?.ok_or("a <property> has no <name>")?;
        let value = element(body, "value")?.unwrap_or_default();
        if name.is_empty() {
            return Err("a <property> has an empty <name>".into());
        }
        out.push((name, value));
        rest = &after[end + "</property>".len()..];
    }
    Ok(out)
}

/// Where the element `<tag>` (or `<tag attr…>`) starts in `text`, after its opening tag.
fn find_tag(text: &str, tag: &str) -> Option<usize> {
    let open = format!("<{tag}");
    let mut from = 0;
    while let Some(found) = text[from..].find(&open) {
        let at = from + found + open.len();
        match text[at..].chars().next() {
            Some('>') => return Some(at + 1),
            Some(c) if c.is_whitespace() => {
                return text[at..].find('>').map(|close| at + close + 1);
            }
            _ => from = at,
        }
    }
    None
}

/// The text of `<tag>…</tag>` in `body` (`<tag/>`: empty), decoded and trimmed.
fn element(body: &str, tag: &str) -> Result<Option<String>, String> {
    if body.contains(&format!("<{tag}/>")) {
        return Ok(Some(String::new()));
    }
    let Some(start) = find_tag(body, tag) else {
        return Ok(None);
    };
    let close = format!("</{tag}>");
    let end = body[start..]
        .find(&close)
        .ok_or_else(|| format!("a <{tag}> element is not closed"))?;
    decode(body[start..start + end].trim()).map(Some)
}

fn without_comments(xml: &str) -> Result<String, String> {
    let mut out = String::with_capacity(xml.len());
    let mut rest = xml;
    while let Some(start) = rest.find("<!--") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find("-->")
            .ok_or("a comment (<!--) is not closed")?;
        rest = &rest[start + end + 3..];
    }
    out.push_str(rest);
    Ok(out)
}

/// XML character data: the five named entities and numeric references.
fn decode(text: &str) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let semi = rest[amp..]
            .find(';')
            .ok_or("an entity (&…;) is not closed")?;
        let entity = &rest[amp + 1..amp + semi];
        let decoded = match entity {
            "lt" => '<',
            "gt" => '>',
            "amp" => '&',
            "quot" => '"',
            "apos" => '\'',
            _ => {
                let code = if let Some(hex) = entity.strip_prefix("#x") {
                    u32::from_str_radix(hex, 16).ok()
                } else if let Some(decimal) = entity.strip_prefix('#') {
                    decimal.parse().ok()
                } else {
                    None
                };
                code.and_then(char::from_u32)
                    .ok_or_else(|| format!("unknown entity &{entity};"))?
            }
        };
        out.push(decoded);
        rest = &rest[amp + semi + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::properties;

    #[test]
    fn hadoop_configuration_files_give_their_properties_in_order() {
        let xml = r#"<?xml version="1.0"?>
<?xml-stylesheet type="text/xsl" href="configuration.xsl"?>
<!-- <property><name>commented.out</name><value>x</value></property> -->
<configuration>
  <property>
    <name>dfs.nameservices</name>
    <value> ns1 </value>
    <description>the name service</description>
  </property>
  <property><name>dfs.ha.namenodes.ns1</name><value>nn1,nn2</value><final>true</final></property>
  <property>
    <name>dfs.client.failover.proxy.provider.ns1</name>
    <value>a&amp;b&#x41;&#66;&lt;</value>
  </property>
  <property><name>empty</name><value/></property>
</configuration>"#;
        assert_eq!(
            properties(xml).unwrap(),
            [
                ("dfs.nameservices".to_string(), "ns1".to_string()),
                ("dfs.ha.namenodes.ns1".into(), "nn1,nn2".into()),
                (
                    "dfs.client.failover.proxy.provider.ns1".into(),
                    "a&bAB<".into()
                ),
                ("empty".into(), String::new()),
            ]
        );
        for (broken, why) in [
            ("<root/>", "not a Hadoop configuration file"),
            ("<configuration><property><name>a</name>", "not closed"),
            (
                "<configuration><property><value>a</value></property></configuration>",
                "no <name>",
            ),
            (
                "<configuration><property><name>a</name><value>&nope;</value></property></configuration>",
                "unknown entity",
            ),
            ("<configuration><!-- open", "comment"),
        ] {
            let error = properties(broken).unwrap_err();
            assert!(error.contains(why), "{broken}: {error}");
        }
    }
}
