//! Targets beside the figures, and the markdown tables for docs/benchmarks.md.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context as _;
use serde_json::Value;

use crate::{Common, Report, plot};

/// `target NAME: VALUE (TARGET) → met | MISSED` for every target of a summary.
pub fn target_lines(summary: &Value) -> Vec<String> {
    summary["targets"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(name, target)| {
            format!(
                "target {name}: {} (target {}) → {}",
                target["value"],
                target["target"].as_str().unwrap_or_default(),
                if target["met"].as_bool().unwrap_or(false) {
                    "met"
                } else {
                    "MISSED"
                }
            )
        })
        .collect()
}

fn met(target: &Value) -> &'static str {
    match target["met"].as_bool() {
        Some(true) => "met",
        Some(false) => "**missed**",
        None => "–",
    }
}

fn num(value: &Value) -> String {
    match value {
        Value::Null => "–".to_string(),
        Value::Number(number) => {
            if let Some(float) = number.as_f64()
                && number.as_u64().is_none()
                && number.as_i64().is_none()
            {
                format!("{float:.2}")
                    .trim_end_matches('0')
                    .trim_end_matches('.')
                    .to_string()
            } else {
                number.to_string()
            }
        }
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

fn bytes(value: &Value) -> String {
    value
        .as_u64()
        .map(crate::util::human_bytes)
        .unwrap_or_else(|| "–".to_string())
}

/// The machine, for the document's header.
pub fn machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("model name"))
                .and_then(|line| line.split_once(':'))
                .map(|(_, model)| model.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".to_string());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|line| line.starts_with("MemTotal:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kib| kib.parse::<u64>().ok())
        })
        .map_or("?".to_string(), |kib| crate::util::human_bytes(kib * 1024));
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .unwrap_or_default()
        .trim()
        .to_string();
    format!("{cores} cores ({cpu}), {memory} RAM, Linux {kernel}")
}

/// Markdown for the scenarios run: a heading and a table each.
pub fn markdown(reports: &[Value], scale: Option<f64>) -> String {
    let mut text = String::new();
    let _ = writeln!(
        text,
        "<!-- Written by weir-bench{}; machine: {} -->\n",
        scale
            .map(|s| format!(" at --scale {s}"))
            .unwrap_or_default(),
        machine()
    );
    for report in reports {
        let name = report["scenario"].as_str().unwrap_or("?");
        if let Some(error) = report["error"].as_str() {
            let _ = writeln!(text, "### {name}\n\nThe scenario failed: `{error}`\n");
            continue;
        }
        match name {
            "oom-case" => oom_case(&mut text, report),
            "throughput" => throughput(&mut text, report),
            "rate" => rate(&mut text, report),
            "recovery" => recovery(&mut text, report),
            "message-size" => message_size(&mut text, report),
            "partitions" => partitions(&mut text, report),
            _ => {}
        }
    }
    text
}

fn oom_case(text: &mut String, report: &Value) {
    let _ = writeln!(
        text,
        "### oom-case\n\n{} partitions, parallelism {}, `read_limit.rows_per_second = {}`, default queue options, Kafka → HdfsFile; worker RSS sampled every second for {} s per backlog; peak = max(sampled RSS, VmHWM). Took {} s.\n",
        num(&report["partitions"]),
        num(&report["parallelism"]),
        num(&report["rows_per_second_limit"]),
        num(&report["sample_seconds"]),
        num(&report["wall_seconds"]),
    );
    let _ = writeln!(
        text,
        "| backlog | records | idle RSS (MiB) | peak RSS (MiB) | final RSS (MiB) | peak − idle (MiB) | target ≤ 64 MiB | rows read | rows committed |\n|---|---|---|---|---|---|---|---|---|"
    );
    for run in report["runs"].as_array().into_iter().flatten() {
        let label = run["backlog"].as_str().unwrap_or("?");
        let target = &report["targets"][format!("peak_over_idle_mib_{label}")];
        let _ = writeln!(
            text,
            "| {label} ({}) | {} | {} | {} | {} | {} | {} | {} | {} |",
            bytes(&run["backlog_bytes"]),
            num(&run["backlog_records"]),
            num(&run["idle_rss_mib"]),
            num(&run["peak_rss_mib"]),
            num(&run["final_rss_mib"]),
            num(&run["peak_over_idle_mib"]),
            met(target),
            num(&run["rows_read"]),
            num(&run["rows_committed"]),
        );
    }
    let growth = &report["targets"]["peak_growth_mib"];
    let _ = writeln!(
        text,
        "\nPeak growth from the 1× to the larger backlog: {} MiB (target ≤ 16 MiB: {}).",
        num(&growth["value"]),
        met(growth)
    );
    for production in report["production"].as_array().into_iter().flatten() {
        let _ = writeln!(
            text,
            "Producing {} took {} s ({} MiB/s, uncompressed).",
            bytes(&production["bytes"]),
            num(&production["seconds"]),
            num(&production["mib_per_second"])
        );
    }
    let _ = writeln!(text, "\n![oom-case RSS](benchmarks/oom-case-rss.png)\n");
}

fn throughput(text: &mut String, report: &Value) {
    let _ = writeln!(
        text,
        "### throughput\n\n{} partitions; each Weir pipeline on a fresh master + worker, timed from `weir submit` until every row is committed (`weir stop` returned, or the batch job Finished); the worker's `/metrics` scraped every second unless said otherwise. Ceiling = the slower of raw librdkafka consumption of the topic and a raw hdfs-native write of the bytes Weir committed, in as many files, with as many writers as the job's parallelism. Took {} s.\n",
        num(&report["partitions"]),
        num(&report["wall_seconds"]),
    );
    for group in report["groups"].as_array().into_iter().flatten() {
        let _ = writeln!(
            text,
            "**{} records of {} B** ({} records, {}): raw consumption {} MiB/s ({} s, {} CPU s of this program).\n",
            num(&group["shape"]),
            num(&group["record_bytes"]),
            num(&group["records"]),
            bytes(&group["bytes"]),
            num(&group["raw_consume"]["mib_per_second"]),
            num(&group["raw_consume"]["seconds"]),
            num(&group["raw_consume"]["cpu_seconds"]),
        );
        let _ = writeln!(
            text,
            "| parallelism | Weir MiB/s | raw HDFS write MiB/s | ceiling MiB/s (which) | Weir ÷ ceiling | worker CPU s per GiB | cores busy | rows/s | steady rows/s | files | worker peak RSS (MiB) | drain loops: idle / sink wait % | readers: source wait / queue full % |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|"
        );
        for run in group["runs"].as_array().into_iter().flatten() {
            let weir = &run["weir"];
            let _ = writeln!(
                text,
                "| {} | {} | {} | {} ({}) | **{}** | {} | {} | {} | {} | {} | {} | {} / {} | {} / {} |",
                num(&run["parallelism"]),
                num(&weir["mib_per_second"]),
                num(&run["raw_write"]["mib_per_second"]),
                num(&run["ceiling_mib_per_second"]),
                num(&run["ceiling_is"]),
                num(&run["ratio_to_ceiling"]),
                num(&weir["cpu_seconds_per_gib"]),
                num(&weir["cores_busy"]),
                num(&weir["rows_per_second"]),
                num(&weir["steady_rows_per_second"]),
                num(&weir["files_committed"]),
                num(&weir["peak_rss_mib"]),
                num(&weir["drain_idle_percent"]),
                num(&weir["drain_sink_wait_percent"]),
                num(&weir["readers_source_wait_percent"]),
                num(&weir["readers_queue_full_percent"]),
            );
        }
        let parquet = &group["parquet"];
        if !parquet.is_null() {
            let _ = writeln!(
                text,
                "\nInto Parquet (snappy) instead of JSON lines, at parallelism {}: {} MiB/s, {} rows/s, {} worker CPU s per GiB, {} cores busy, worker peak RSS {} MiB; {} in {} files.",
                num(&parquet["parallelism"]),
                num(&parquet["mib_per_second"]),
                num(&parquet["rows_per_second"]),
                num(&parquet["cpu_seconds_per_gib"]),
                num(&parquet["cores_busy"]),
                num(&parquet["peak_rss_mib"]),
                bytes(&parquet["bytes_committed"]),
                num(&parquet["files_committed"]),
            );
        }
        let _ = writeln!(text);
    }
    let extras: Vec<&Value> = report["extras"].as_array().into_iter().flatten().collect();
    if !extras.is_empty() {
        let _ = writeln!(
            text,
            "Beside them, at parallelism {} with the 1 KiB records:\n\n| pipeline | seconds | MiB/s | worker CPU s | CPU s per GiB | cores busy | worker peak RSS (MiB) |\n|---|---|---|---|---|---|---|",
            num(&extras[0]["parallelism"])
        );
        for run in extras {
            let _ = writeln!(
                text,
                "| {} | {} | {} | {} | {} | {} | {} |",
                num(&run["pipeline"]),
                num(&run["seconds"]),
                num(&run["mib_per_second"]),
                num(&run["cpu_seconds"]),
                num(&run["cpu_seconds_per_gib"]),
                num(&run["cores_busy"]),
                num(&run["peak_rss_mib"]),
            );
        }
        let _ = writeln!(text);
    }
    let scrape = &report["scrape"];
    if !scrape.is_null() {
        let _ = writeln!(
            text,
            "**Scrape cost** (issue 12): the worker used {} CPU s scraped every second and {} CPU s not scraped, a difference of {} % (two runs on a shared machine: noise of a few % either way). One scrape measured directly (a burst of 1000, less the worker's idle CPU) costs {} ms of worker CPU, so scraping every second is **{} %** of the worker's CPU (target < 1 %: {}).\n",
            num(&scrape["scraped_cpu_seconds"]),
            num(&scrape["unscraped_cpu_seconds"]),
            num(&scrape["difference_percent"]),
            num(&scrape["one_scrape_cpu_ms"]),
            num(&scrape["estimate_percent"]),
            met(&report["targets"]["scrape_cpu_percent"]),
        );
    }
    let _ = writeln!(text, "Targets of issue 13:\n");
    for (name, target) in report["targets"].as_object().into_iter().flatten() {
        if name == "scrape_cpu_percent" {
            continue;
        }
        let _ = writeln!(
            text,
            "- {}: {} → {}",
            target["target"].as_str().unwrap_or_default(),
            num(&target["value"]),
            met(target)
        );
    }
    let _ = writeln!(text);
}

fn partitions(text: &mut String, report: &Value) {
    let _ = writeln!(
        text,
        "### partitions\n\nOne topic per partition count with a backlog of {} records of {} B ({}), parallelism 1, default options; each case on a fresh master + worker, RSS sampled every second for {} s; peak = max(sampled RSS, VmHWM); reservation = what the master charged the subtask (`subtask_reservation_bytes`). `--scale {}`. Took {} s.\n",
        num(&report["backlog_records"]),
        num(&report["record_bytes"]),
        bytes(&report["backlog_bytes"]),
        num(&report["sample_seconds"]),
        num(&report["scale"]),
        num(&report["wall_seconds"]),
    );
    let _ = writeln!(
        text,
        "| partitions | case | idle RSS (MiB) | peak RSS (MiB) | peak − idle (MiB) | target ≤ 64 MiB | reservation (MiB) | reservation ÷ growth | target 1.0–1.5× | rows read | queues peak | prefetch peak |\n|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for run in report["runs"].as_array().into_iter().flatten() {
        let partitions = num(&run["partitions"]);
        for (case, label) in [("oom", "1 row/s"), ("stalled", "stalled sink")] {
            let figures = &run[case];
            let headroom = &report["targets"][format!("oom_peak_over_idle_mib_{partitions}")];
            let reservation =
                &report["targets"][format!("{case}_reservation_over_growth_{partitions}")];
            let _ = writeln!(
                text,
                "| {partitions} | {label} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                num(&figures["idle_rss_mib"]),
                num(&figures["peak_rss_mib"]),
                num(&figures["peak_over_idle_mib"]),
                if case == "oom" { met(headroom) } else { "–" },
                num(&figures["reservation_mib"]),
                num(&reservation["value"]),
                met(reservation),
                num(&figures["rows_read"]),
                bytes(&figures["queue_peak_bytes"]),
                bytes(&figures["prefetch_peak_bytes"]),
            );
        }
    }
    let _ = writeln!(text, "\n![partitions RSS](partitions-rss.svg)\n");
}

fn rate(text: &mut String, report: &Value) {
    let _ = writeln!(
        text,
        "### rate\n\nRecords of {} B, {} partitions, parallelism {}; after {} s of warm-up, rows counted on the Console sink's stdout over {} s. Took {} s.\n",
        num(&report["record_bytes"]),
        num(&report["partitions"]),
        num(&report["parallelism"]),
        num(&report["warmup_seconds"]),
        num(&report["window_seconds"]),
        num(&report["wall_seconds"]),
    );
    let _ = writeln!(
        text,
        "| limit | configured | achieved | error % | target \\|error\\| ≤ 2 % | Weir's metrics (rows/s) |\n|---|---|---|---|---|---|"
    );
    for case in report["cases"].as_array().into_iter().flatten() {
        let limit = case["limit"].as_str().unwrap_or("?");
        let target = &report["targets"][format!("error_percent_{}", limit.replace(' ', "_"))];
        let _ = writeln!(
            text,
            "| {limit} | {} {} | {} | {} | {} | {} |",
            num(&case["configured"]),
            num(&case["unit"]),
            num(&case["achieved"]),
            num(&case["error_percent"]),
            met(target),
            num(&case["weir_metrics_rows_per_second"]),
        );
    }
    let _ = writeln!(text, "\n![rate](benchmarks/rate.png)\n");
}

fn recovery(text: &mut String, report: &Value) {
    let _ = writeln!(
        text,
        "### recovery\n\nA steady producer at {} rows/s ({} B records, {} partitions), Kafka → HdfsFile, parallelism {}, checkpoint every {} ms, master heartbeat defaults; `kill -9` of the worker once the job kept up for a while, a new worker started at once. Took {} s.\n",
        num(&report["produce_rows_per_second"]),
        num(&report["record_bytes"]),
        num(&report["partitions"]),
        num(&report["parallelism"]),
        num(&report["checkpoint_interval_ms"]),
        num(&report["wall_seconds"]),
    );
    let target = &report["targets"]["running_again_seconds"];
    let exactly = &report["targets"]["exactly_once"];
    let _ = writeln!(
        text,
        "| detected (s) | new worker ALIVE (s) | Running again (s) | target ≤ 10 s | caught up (s) | produced | committed | missing | duplicated | exactly once |\n|---|---|---|---|---|---|---|---|---|---|"
    );
    let _ = writeln!(
        text,
        "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        num(&report["detection_seconds"]),
        num(&report["new_worker_alive_seconds"]),
        num(&report["running_again_seconds"]),
        met(target),
        num(&report["caught_up_seconds"]),
        num(&report["produced"]),
        num(&report["rows_committed"]),
        num(&report["missing"]),
        num(&report["duplicated"]),
        met(exactly),
    );
    let _ = writeln!(
        text,
        "\nTimes are seconds after the kill, each taken when the `weir` call that observed it returned (the master's log shows the events tens of ms earlier); \"caught up\" is lag ≤ {} records (the highest lag of the steady phase, at least one second of production: positions travel with 1 s heartbeats), with lag = Kafka's high watermarks − the read positions Weir reports; the new subtasks resume from the last checkpoint completed before the kill.\n",
        num(&report["caught_up_threshold_rows"]),
    );
}

fn message_size(text: &mut String, report: &Value) {
    let _ = writeln!(
        text,
        "### message-size\n\n{} partitions, parallelism {}, default queue options; the Console sink stalled (its stdout pipe not read) for {} s while RSS is sampled. Took {} s.\n",
        num(&report["partitions"]),
        num(&report["parallelism"]),
        num(&report["stall_seconds"]),
        num(&report["wall_seconds"]),
    );
    let _ = writeln!(
        text,
        "| record | backlog | idle RSS (MiB) | peak RSS (MiB) | peak − idle (MiB) | reservation (MiB) | within reservation | rows read | queues peak |\n|---|---|---|---|---|---|---|---|---|"
    );
    for run in report["sizes"].as_array().into_iter().flatten() {
        let record = run["record"].as_str().unwrap_or("?");
        let target = &report["targets"][format!("peak_over_idle_mib_{}", record.replace(' ', ""))];
        let _ = writeln!(
            text,
            "| {record} | {} | {} | {} | {} | {} | {} | {} | {} |",
            bytes(&run["backlog_bytes"]),
            num(&run["idle_rss_mib"]),
            num(&run["peak_rss_mib"]),
            num(&run["peak_over_idle_mib"]),
            num(&run["reservation_mib"]),
            met(target),
            num(&run["rows_read"]),
            bytes(&run["queue_peak_bytes"]),
        );
    }
    let parquet: Vec<&Value> = report["parquet"].as_array().into_iter().flatten().collect();
    if !parquet.is_empty() {
        let _ = writeln!(
            text,
            "\nThe same sizes into Parquet files on HDFS (snappy), at full speed:\n\n| record | records | seconds | idle RSS (MiB) | peak RSS (MiB) | peak − idle (MiB) | reservation (MiB) | within reservation |\n|---|---|---|---|---|---|---|---|"
        );
        for run in parquet {
            let record = run["record"].as_str().unwrap_or("?");
            let target = &report["targets"]
                [format!("parquet_peak_over_idle_mib_{}", record.replace(' ', ""))];
            let _ = writeln!(
                text,
                "| {record} | {} | {} | {} | {} | {} | {} | {} |",
                num(&run["records"]),
                num(&run["seconds"]),
                num(&run["idle_rss_mib"]),
                num(&run["peak_rss_mib"]),
                num(&run["peak_over_idle_mib"]),
                num(&run["reservation_mib"]),
                met(target),
            );
        }
    }
    let _ = writeln!(
        text,
        "\n![message-size RSS](benchmarks/message-size-rss.png)\n"
    );
}

pub fn write_markdown(reports: &[Value], common: &Common, path: &Path) -> anyhow::Result<()> {
    std::fs::write(path, markdown(reports, Some(common.scale)))
        .with_context(|| format!("writing {}", path.display()))
}

/// `weir-bench report`: the markdown (and plots) again from `out`/SCENARIO.json.
pub fn from_files(out: &Path, markdown_path: Option<&Path>) -> anyhow::Result<()> {
    let mut reports = Vec::new();
    let mut scale = None;
    for name in [
        "throughput",
        "oom-case",
        "rate",
        "recovery",
        "message-size",
        "partitions",
    ] {
        let path = out.join(format!("{name}.json"));
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        let mut value: Value =
            serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?;
        let series = value
            .as_object_mut()
            .and_then(|object| object.remove("series"))
            .unwrap_or(Value::Null);
        scale = scale.or(value["scale"].as_f64());
        let static_name = match name {
            "throughput" => "throughput",
            "oom-case" => "oom-case",
            "rate" => "rate",
            "recovery" => "recovery",
            "partitions" => "partitions",
            _ => "message-size",
        };
        let report = Report {
            name: static_name,
            summary: value.clone(),
            series,
        };
        plot::draw(&report, out)?;
        reports.push(value);
    }
    if reports.is_empty() {
        anyhow::bail!("no SCENARIO.json files in {}", out.display());
    }
    let text = markdown(&reports, scale);
    match markdown_path {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?
        }
        None => print!("{text}"),
    }
    Ok(())
}
