//! What SeaTunnel job files carry that Weir does not apply, read before the sections are:
//! `env` keys meant for other engines (accepted with a warning, as SeaTunnel's own engine
//! ignores them) and a plugin's own `parallelism` (accepted when it is the job's). The
//! `transform { }` section is read by `transform_parse`.

use hocon::HoconValue;

use super::error::ConfigError;
use super::options::describe;
use super::section::{Context, join};

/// Top-level `env` keys of other engines: Spark's and Flink's settings, and the
/// `execution.*` keys of SeaTunnel's Flink/Spark starters (`execution.parallelism`,
/// `execution.checkpoint.interval`, …).
pub(crate) const FOREIGN_ENV_PREFIXES: &[(&str, &str)] = &[
    ("spark", "a setting of the Spark engine"),
    ("flink", "a setting of the Flink engine"),
    (
        "execution",
        "a legacy setting of SeaTunnel's Flink and Spark starters (Weir reads `parallelism` \
         and `checkpoint.interval`)",
    ),
];

/// SeaTunnel's FakeSource options about splits, which Weir accepts without applying: its
/// FakeSource generates each subtask's `row.num` rows as one split, so splitting changes
/// neither the rows nor their number (`split.num` must divide `row.num` for that).
pub(crate) const FAKE_SOURCE_SPLIT_OPTIONS: &[(&str, &str)] = &[
    (
        "split.num",
        "Weir's FakeSource generates each subtask's row.num rows as one split; the rows \
         and their number are the same",
    ),
    (
        "split.read-interval",
        "Weir's FakeSource has one split per subtask, so there is no interval between \
         splits to wait; pace it with rows_per_second",
    ),
];

/// Removes FakeSource's `split.num` and `split.read-interval` from its block (at `path`) and
/// says, per option, that it is ignored; a `split.num` that does not divide `row.num` is
/// refused, since then splitting is not a no-op.
pub(crate) fn strip_fake_source_splits(
    block: &HoconValue,
    path: &str,
    ctx: &Context,
    warnings: &mut Vec<String>,
) -> Result<HoconValue, ConfigError> {
    let Some(entries) = block.as_object() else {
        return Ok(block.clone());
    };
    let Some(split) = entries.get("split").and_then(HoconValue::as_object) else {
        return Ok(block.clone());
    };
    let mut split = split.clone();
    let row_num = entries
        .get("row")
        .and_then(HoconValue::as_object)
        .and_then(|row| row.get("num"))
        .and_then(HoconValue::as_i64);
    for (option, why) in FAKE_SOURCE_SPLIT_OPTIONS {
        let Some(name) = option.strip_prefix("split.") else {
            continue;
        };
        let Some(value) = split.shift_remove(name) else {
            continue;
        };
        let option_path = join(path, option);
        let Some(number) = value.as_i64().filter(|number| *number >= 0) else {
            return Err(ctx.invalid(
                option_path,
                format!("must be a non-negative integer, found {}", describe(&value)),
            ));
        };
        if *option == "split.num" {
            if number == 0 {
                return Err(ctx.invalid(option_path, "must be at least 1, found 0"));
            }
            if let Some(rows) = row_num.filter(|rows| rows % number != 0) {
                return Err(ctx.invalid(
                    option_path,
                    format!(
                        "is {number}, which does not divide row.num = {rows}: Weir generates \
                         row.num rows as one split and accepts split.num only where \
                         splitting cannot change the rows; make row.num a multiple of \
                         split.num, or remove split.num"
                    ),
                ));
            }
        }
        warnings.push(warning(ctx, &option_path, why));
    }
    let mut kept = entries.clone();
    if split.is_empty() {
        kept.shift_remove("split");
    } else {
        kept.insert("split".to_string(), HoconValue::Object(split));
    }
    Ok(HoconValue::Object(kept))
}

/// `kafka.config` properties of Kafka's Java consumer that SeaTunnel jobs set and that have no
/// meaning for Weir (librdkafka does not know them): accepted with a warning, not passed on.
pub(crate) const IGNORED_JAVA_CONSUMER_PROPERTIES: &[(&str, &str)] = &[(
    "max.poll.records",
    "a setting of Kafka's Java consumer, unknown to librdkafka: Weir's partition readers take \
     records one by one from a prefetch bounded by `prefetch.max_bytes`",
)];

/// Why `kafka.config.enable.auto.commit = false` is accepted (and `true` is not).
pub(crate) const AUTO_COMMIT_FALSE: &str = "Weir never lets the client commit offsets on its \
     own: it commits those of completed checkpoints (see `commit_on_checkpoint`), which is \
     what `false` asks for";

/// Removes from the Kafka source's `kafka.config` (block at `path`) the Java consumer
/// properties that have no meaning for Weir, and `enable.auto.commit = false`, with a warning
/// each; everything else stays for the section's own checks (`enable.auto.commit = true` is
/// refused there).
pub(crate) fn strip_java_kafka_config(
    block: &HoconValue,
    path: &str,
    ctx: &Context,
    warnings: &mut Vec<String>,
) -> HoconValue {
    let mut block = block.clone();
    for (property, why) in IGNORED_JAVA_CONSUMER_PROPERTIES {
        let option = format!("kafka.config.{property}");
        if take_leaf(&mut block, &option).is_some() {
            warnings.push(warning(ctx, &join(path, &option), why));
        }
    }
    let option = "kafka.config.enable.auto.commit";
    let mut probe = block.clone();
    if let Some(value) = take_leaf(&mut probe, option) {
        let is_false = value.as_bool() == Some(false)
            || value
                .as_str()
                .is_some_and(|text| text.trim().eq_ignore_ascii_case("false"));
        if is_false {
            warnings.push(warning(ctx, &join(path, option), AUTO_COMMIT_FALSE));
            block = probe;
        }
    }
    block
}

/// Removes the leaf at dotted `path` below `value`, written nested (`a { b = 1 }`) or as one
/// quoted key (`"a.b" = 1`), and the objects it leaves empty; returns it.
fn take_leaf(value: &mut HoconValue, path: &str) -> Option<HoconValue> {
    let HoconValue::Object(map) = value else {
        return None;
    };
    if let Some(leaf) = map.shift_remove(path) {
        return Some(leaf);
    }
    for (index, _) in path.match_indices('.') {
        let (head, rest) = (&path[..index], &path[index + 1..]);
        let Some(child) = map.get_mut(head) else {
            continue;
        };
        if let Some(leaf) = take_leaf(child, rest) {
            if child
                .as_object()
                .is_some_and(|children| children.is_empty())
            {
                map.shift_remove(head);
            }
            return Some(leaf);
        }
    }
    None
}

/// File sink options SeaTunnel uses only with `have_partition = true` (and ignores otherwise).
pub(crate) const PARTITION_OPTIONS: &[&str] = &["partition_by", "partition_dir_expression"];

/// Why a partition option is ignored without `have_partition = true`.
pub(crate) const PARTITION_WITHOUT_HAVE_PARTITION: &str = "have_partition is not true, so no \
     partition directories are written (SeaTunnel ignores it then too); set have_partition = \
     true to partition";

/// Removes `partition_by` and `partition_dir_expression` from a file sink block (at `path`)
/// whose `have_partition` is absent or false, with a warning each, as SeaTunnel ignores them.
pub(crate) fn strip_unused_partition_options(
    block: &HoconValue,
    path: &str,
    ctx: &Context,
    warnings: &mut Vec<String>,
) -> HoconValue {
    let Some(entries) = block.as_object() else {
        return block.clone();
    };
    let have_partition = entries.get("have_partition").map(|value| {
        value.as_bool() != Some(false)
            && !value
                .as_str()
                .is_some_and(|text| text.trim().eq_ignore_ascii_case("false"))
    });
    // Absent means false (the default); a value that is not false is left to the section's
    // own checks.
    if have_partition == Some(true) {
        return block.clone();
    }
    let mut block = block.clone();
    for option in PARTITION_OPTIONS {
        if take_leaf(&mut block, option).is_some() {
            warnings.push(warning(
                ctx,
                &join(path, option),
                PARTITION_WITHOUT_HAVE_PARTITION,
            ));
        }
    }
    block
}

/// Removes the keys of other engines from `env` and says, per key, that it is ignored.
pub(crate) fn strip_foreign_env(
    env: &HoconValue,
    ctx: &Context,
    warnings: &mut Vec<String>,
) -> HoconValue {
    let Some(entries) = env.as_object() else {
        return env.clone();
    };
    let mut kept = entries.clone();
    for (key, value) in entries {
        if let Some((_, why)) = FOREIGN_ENV_PREFIXES
            .iter()
            .find(|(prefix, _)| prefix == key)
        {
            let mut leaves = Vec::new();
            leaf_paths(&join("env", key), value, &mut leaves);
            for path in leaves {
                warnings.push(warning(
                    ctx,
                    &path,
                    &format!("{why}; Weir does not apply it"),
                ));
            }
            kept.shift_remove(key);
        }
    }
    HoconValue::Object(kept)
}

/// A plugin block without its `parallelism`, and that value with its path.
pub(crate) fn take_plugin_parallelism(
    block: &HoconValue,
    path: &str,
) -> (HoconValue, Option<(String, HoconValue)>) {
    let Some(entries) = block.as_object() else {
        return (block.clone(), None);
    };
    let mut kept = entries.clone();
    let taken = kept
        .shift_remove("parallelism")
        .map(|value| (join(path, "parallelism"), value));
    (HoconValue::Object(kept), taken)
}

/// The job's parallelism while the plugins' own are read: set by `env.parallelism`, or else
/// by the first plugin that sets one (SeaTunnel runs a plugin at its own parallelism when it
/// has one, and at the job's otherwise).
pub(crate) struct JobParallelism {
    /// The parallelism.
    pub value: u32,
    /// The option that set it: `env.parallelism`, a plugin's, or none (the default).
    pub set_by: Option<String>,
}

/// Checks a plugin's own `parallelism` against the job's: Weir runs each source reader and
/// its sink writer in the same subtasks, so every plugin runs at the job's parallelism. The
/// first plugin parallelism of a job without `env.parallelism` becomes the job's.
pub(crate) fn check_plugin_parallelism(
    taken: Option<(String, HoconValue)>,
    job: &mut JobParallelism,
    ctx: &Context,
) -> Result<(), ConfigError> {
    let Some((path, value)) = taken else {
        return Ok(());
    };
    let n = match value.as_i64() {
        Some(n) if n >= 1 => n,
        Some(n) => return Err(ctx.invalid(path, format!("must be at least 1, found {n}"))),
        None => return Err(ctx.invalid(path, "must be a whole number")),
    };
    match &job.set_by {
        None => {
            job.value = u32::try_from(n)
                .map_err(|_| ctx.invalid(path.clone(), format!("{n} is too large")))?;
            job.set_by = Some(path);
            Ok(())
        }
        Some(_) if n == i64::from(job.value) => Ok(()),
        Some(set_by) => Err(ctx.invalid(
            path,
            format!(
                "is {n}, but {set_by} is {}: Weir runs each source reader and its sink writer \
                 in the same subtasks, so all plugins run at one parallelism (make them equal, \
                 or remove this option)",
                job.value
            ),
        )),
    }
}

pub(crate) fn warning(ctx: &Context, path: &str, message: &str) -> String {
    let at = ctx.at(path);
    format!("{at}: '{path}' is ignored: {message}")
}

fn leaf_paths(path: &str, value: &HoconValue, out: &mut Vec<String>) {
    match value.as_object() {
        Some(children) if !children.is_empty() => {
            for (child, child_value) in children {
                leaf_paths(&join(path, child), child_value, out);
            }
        }
        _ => out.push(path.to_string()),
    }
}
