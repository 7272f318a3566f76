//! SeaTunnel's own job files (tests/seatunnel-jobs) run on the real binaries: every corpus file
//! that `weir validate` accepts and that writes files (a FakeSource source and a LocalFile
//! sink) is submitted as it is, with the job variables SeaTunnel's e2e test passes, to a
//! `weir master` and a `weir worker`; the committed output is counted row by row (Parquet read
//! back with pyarrow and DuckDB) against what the file asks for, `row.num` rows per subtask,
//! the header that SeaTunnel's `TextHeaderIT` asserts is checked, files written in GBK are
//! decoded by glibc's `iconv` and must hold the texts of their rows, and lzo files are
//! decompressed by the `lzop` tool.
//!
//! One change is made to each file: its sink `path` (`/tmp/...` upstream) is moved under the
//! test's own directory, so that runs never share or leave output. The corpus files that are
//! refused, and why, are listed in docs/seatunnel.md.
//!
//! Needs the built binary, the local stack's Kafka (`deploy/local/stack up`) for SeaTunnel's
//! Kafka example, and, for the Parquet file, the readers of `tests/readers/setup`.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use weir_e2e::cluster::{Master, Worker, WorkerOptions, weir, write_file};
use weir_e2e::job_json::text;
use weir_e2e::kafka;
use weir_e2e::local_files::committed_files;
use weir_e2e::readers::read_parquet;

const CORPUS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/seatunnel-jobs");
const DEADLINE: Duration = Duration::from_secs(120);

/// How a corpus file's output is read back.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Output {
    /// Text or CSV lines, one row each.
    Lines,
    /// Text lines after one header line, which must be this.
    LinesAfterHeader(&'static str),
    /// Parquet files.
    Parquet,
    /// Lines in GBK, decoded by `iconv`, which must hold these texts among them.
    GbkLines(&'static [&'static str]),
    /// Lines in lzop files (`compress_codec = lzo`), decompressed by the `lzop` tool.
    LzopLines,
}

/// A corpus file that runs, and what it must write.
struct Case {
    file: &'static str,
    /// `-i key=value` as SeaTunnel's e2e test passes them.
    variables: &'static [&'static str],
    /// Rows committed in all: `row.num` × parallelism.
    rows: usize,
    /// A streaming job runs until cancelled; a batch job finishes by itself.
    streaming: bool,
    output: Output,
    /// A file put under the sink's path before the job, relative to the case's directory,
    /// that its `data_save_mode = DROP_DATA` must delete (it would count as a row).
    earlier: Option<&'static str>,
}

const CASES: &[Case] = &[
    Case {
        file: "batch_fakesource_to_file.conf",
        variables: &[],
        rows: 10,
        streaming: false,
        output: Output::Lines,
        earlier: None,
    },
    Case {
        file: "batch_fakesource_to_file_header.conf",
        variables: &["file_format_type=text", "enable_header_write=true"],
        rows: 1,
        streaming: false,
        // SeaTunnel's default text field delimiter, \u0001.
        output: Output::LinesAfterHeader("name\u{1}age"),
        earlier: None,
    },
    Case {
        file: "batch_fakesource_to_localfile_checkpoint_disable.conf",
        variables: &[],
        rows: 100,
        streaming: false,
        output: Output::Lines,
        earlier: None,
    },
    Case {
        file: "batch_fakesource_to_localfile_checkpoint_disable_withtimeout.conf",
        variables: &[],
        rows: 100,
        streaming: false,
        output: Output::Lines,
        earlier: None,
    },
    Case {
        file: "batch_fakesource_to_localfile_checkpoint_enable.conf",
        variables: &[],
        rows: 100,
        streaming: false,
        output: Output::Lines,
        earlier: None,
    },
    Case {
        file: "cluster_batch_fake_to_localfile_template.conf",
        variables: &[
            "dynamic_job_mode=BATCH",
            "dynamic_test_row_num_per_parallelism=1000",
            "dynamic_test_parallelism=2",
            "dynamic_test_case_name=testBatchJobRunOkIn2Node",
        ],
        // ClusterFaultToleranceIT asserts row.num × parallelism lines.
        rows: 2000,
        streaming: false,
        output: Output::Lines,
        earlier: None,
    },
    Case {
        file: "fake_to_local_file_json.conf",
        variables: &[],
        // No row.num: SeaTunnel's default, 5.
        rows: 5,
        streaming: false,
        output: Output::Lines,
        earlier: None,
    },
    Case {
        file: "fake_to_local_file_json_save_mode.conf",
        variables: &[],
        // Its two `rows`, under `${table_name}`: the source's result_table_name, "fake".
        rows: 2,
        streaming: false,
        output: Output::Lines,
        earlier: Some("tmp/seatunnel/localfile/json/fake/earlier.json"),
    },
    Case {
        file: "fake_to_local_file_json_with_encoding.conf",
        variables: &[],
        // The four rows of `rows` (a file gets a row's values, whatever its kind).
        rows: 4,
        streaming: false,
        output: Output::GbkLines(&["你好，世界", "海底隧道", "测试字符"]),
        earlier: None,
    },
    Case {
        file: "fake_to_local_file_parquet.conf",
        variables: &[],
        // No row.num: SeaTunnel's default, 5.
        rows: 5,
        streaming: false,
        output: Output::Parquet,
        earlier: None,
    },
    Case {
        file: "fake_to_local_file_text.conf",
        variables: &[],
        // BATCH and no row.num: SeaTunnel's default, 5.
        rows: 5,
        streaming: false,
        output: Output::LzopLines,
        earlier: None,
    },
    Case {
        file: "fake_to_local_file_with_encoding.conf",
        variables: &[],
        rows: 4,
        streaming: false,
        output: Output::GbkLines(&["你好，世界", "海底隧道", "测试字符"]),
        earlier: None,
    },
    Case {
        file: "outdated_env_param_fakesource_to_localfile.conf",
        variables: &[],
        rows: 100,
        streaming: true,
        output: Output::Lines,
        earlier: None,
    },
    Case {
        file: "stream_fakesource_to_file.conf",
        variables: &[],
        rows: 10,
        streaming: true,
        output: Output::Lines,
        earlier: None,
    },
    Case {
        file: "stream_fakesource_to_localfile.conf",
        variables: &[],
        rows: 100,
        streaming: true,
        output: Output::Lines,
        earlier: None,
    },
    Case {
        file: "stream_fakesource_to_localfile_interval.conf",
        variables: &[],
        rows: 100,
        streaming: true,
        output: Output::Lines,
        earlier: None,
    },
    Case {
        file: "unify_env_param_fakesource_to_localfile.conf",
        variables: &[],
        rows: 100,
        streaming: true,
        output: Output::Lines,
        earlier: None,
    },
];

/// SeaTunnel's Kafka documentation example (`doc-kafka-1.conf`: three topics on
/// `localhost:9092`, text records `name#age`, BATCH, to Console) runs as it is against the
/// stack's Kafka, which listens there: every record produced to its topics since the consumer
/// group's last commit is read and written once, and the group's offsets end at the topics'
/// ends.
#[test]
fn seatunnel_kafka_documentation_example_runs_unchanged() {
    const TOPICS: [&str; 3] = ["topic_1", "topic_2", "topic_3"];
    const PER_TOPIC: u64 = 40;
    let bootstrap = weir_e2e::kafka_bootstrap().unwrap_or_else(|missing| panic!("{missing}"));
    assert!(
        bootstrap.ends_with(":9092"),
        "doc-kafka-1.conf reads localhost:9092, but the stack's Kafka is at {bootstrap}"
    );
    let mut expected = 0;
    for topic in TOPICS {
        if kafka::topic_partitions(&bootstrap, topic).is_none() {
            kafka::create_topic(&bootstrap, topic, 1);
        }
        // Weir's default group: what an earlier run committed is not read again.
        let committed = kafka::committed_offsets(&bootstrap, "weir", topic, 1)[0];
        let (low, _) = kafka::watermarks(&bootstrap, topic, 1)[0];
        kafka::produce(
            &bootstrap,
            topic,
            (0..PER_TOPIC).map(|age| kafka::Record::new(0, format!("n{age}#{age}").into_bytes())),
        );
        let (_, high) = kafka::watermarks(&bootstrap, topic, 1)[0];
        expected += u64::try_from(high - committed.unwrap_or(low).max(low)).unwrap_or(0);
    }
    let master = Master::start_default("seatunnel-corpus-kafka");
    let _worker = Worker::start(&master, "w-corpus-kafka", "1GiB");
    let job_id = master.submit(&Path::new(CORPUS).join("doc-kafka-1.conf"));
    let finished = master.wait_until("doc-kafka-1.conf finishes", DEADLINE, || {
        let job = master.try_job(&job_id)?;
        match text(&job, "state").as_str() {
            "Finished" => Ok(job),
            "Failed" | "Cancelled" => Err(format!("the job ended: {job:#}")),
            other => Err(other.to_string()),
        }
    });
    let written = finished["rows_written"].as_u64().unwrap_or_default();
    master.check(written == expected, || {
        format!("{written} rows written, expected {expected}: {finished:#}")
    });
    for topic in TOPICS {
        let committed = kafka::committed_offsets(&bootstrap, "weir", topic, 1)[0];
        let (_, high) = kafka::watermarks(&bootstrap, topic, 1)[0];
        master.check(committed == Some(high), || {
            format!("group weir committed {committed:?} for {topic}-0, whose end is {high}")
        });
    }
}

/// The corpus files with a FakeSource source and a Console sink: file, rows printed in all
/// (`row.num` × parallelism), STREAMING.
const CONSOLE_CASES: &[(&str, usize, bool)] = &[
    // No row.num in a STREAMING job: SeaTunnel's default, 5, then idle until cancelled.
    ("doc-console-1.conf", 5, true),
    ("batch_cancel_task_1.conf", 10_000, true),
    ("batch_cancel_task_2.conf", 10_000, true),
    ("v2.batch.conf", 32, false),
    ("v2.streaming.conf", 32, true),
];

/// The Console corpus files print every row once, as SeaTunnel's Console sink prints it
/// (`subtaskIndex=… rowIndex=…: …`), counted in the worker's own stdout; the STREAMING ones
/// stay up after their rows until cancelled, as SeaTunnel's do.
#[test]
fn seatunnel_console_job_files_print_every_row() {
    for (file, rows, streaming) in CONSOLE_CASES {
        let master = Master::start_default(&format!("corpus-{}", file.trim_end_matches(".conf")));
        let worker = Worker::start_with(
            &master,
            "w-console",
            WorkerOptions::new("1GiB").capturing_stdout(),
        );
        let job_id = master.submit(&Path::new(CORPUS).join(file));
        let printed = || {
            worker
                .stdout_lines()
                .iter()
                .filter(|line| line.starts_with("subtaskIndex=") && line.contains(" rowIndex="))
                .count()
        };
        master.wait_until(&format!("{file} prints {rows} rows"), DEADLINE, || {
            let count = printed();
            if count > *rows {
                return Ok(());
            }
            (count == *rows)
                .then_some(())
                .ok_or_else(|| format!("{count} rows printed"))
        });
        let job = master.job(&job_id);
        let state = text(&job, "state");
        if *streaming {
            master.check(state == "Running", || {
                format!("{file}: a STREAMING job should run until cancelled: {job:#}")
            });
            master.json(&["cancel", &job_id]);
        }
        let ended = if *streaming { "Cancelled" } else { "Finished" };
        master.wait_until(&format!("{file} is {ended}"), DEADLINE, || {
            let job = master.try_job(&job_id)?;
            let state = text(&job, "state");
            (state == ended).then_some(()).ok_or(state)
        });
        let count = printed();
        master.check(count == *rows, || {
            format!("{file}: {count} rows printed, expected {rows}")
        });
        println!("{file}: {count} rows printed, as expected");
    }
}

/// Every corpus file that `weir validate` accepts with a file sink is a case here.
#[test]
fn every_accepted_corpus_file_with_a_file_sink_is_run() {
    let mut names: Vec<String> = std::fs::read_dir(CORPUS)
        .unwrap_or_else(|error| panic!("cannot list {CORPUS}: {error}"))
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".conf"))
        .collect();
    names.sort();
    let mut with_file_sink = Vec::new();
    for name in &names {
        let mut args = vec!["validate".to_string(), format!("{CORPUS}/{name}")];
        let case = CASES.iter().find(|case| case.file == name);
        for variable in case.map_or(&[][..], |case| case.variables) {
            args.push("-i".into());
            args.push((*variable).into());
        }
        let output = weir(&args);
        let stdout = String::from_utf8_lossy(&output.stdout);
        if output.status.success()
            && (stdout.contains("→ LocalFile") || stdout.contains("→ HdfsFile"))
        {
            with_file_sink.push(name.clone());
        }
    }
    let cases: Vec<String> = CASES.iter().map(|case| case.file.to_string()).collect();
    assert_eq!(
        with_file_sink, cases,
        "accepted corpus files with a file sink vs. the cases"
    );
}

#[test]
fn seatunnel_job_files_run_unchanged_and_write_every_row() {
    let master = Master::start_default("seatunnel-corpus");
    let _worker = Worker::start(&master, "w-corpus", "4GiB");
    // Every case runs at once; each writes under a directory of its own.
    let mut running = Vec::new();
    for case in CASES {
        let upstream = std::fs::read_to_string(Path::new(CORPUS).join(case.file))
            .unwrap_or_else(|error| master.fail(format!("cannot read {}: {error}", case.file)));
        let out = master.dir().join(case.file.trim_end_matches(".conf"));
        let moved = upstream.replace("\"/tmp/", &format!("\"{}/tmp/", out.display()));
        master.check(moved != upstream, || {
            format!("{}: no sink path under /tmp/ to move", case.file)
        });
        if let Some(earlier) = case.earlier {
            let earlier = out.join(earlier);
            if let Some(dir) = earlier.parent() {
                std::fs::create_dir_all(dir).unwrap_or_else(|error| master.fail(error));
            }
            std::fs::write(&earlier, "{\"earlier\":1}\n")
                .unwrap_or_else(|error| master.fail(error));
        }
        let job_file = write_file(master.dir(), case.file, &moved);
        let mut args = vec!["submit".to_string(), job_file.display().to_string()];
        for variable in case.variables {
            args.push("-i".into());
            args.push((*variable).into());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let submitted = master
            .query(&args)
            .unwrap_or_else(|error| master.fail(format!("{}: {error}", case.file)));
        let job_id = text(&submitted, "job_id");
        running.push((case, job_id, out));
    }

    for (case, job_id, out) in &running {
        let expected = case.rows;
        if case.streaming {
            // A streaming FakeSource stays up after its rows: wait for all to be committed,
            // then cancel, and the count must not move.
            master.wait_until(
                &format!("{} commits {expected} rows", case.file),
                DEADLINE,
                || {
                    let rows = committed_rows(out, case.output)?;
                    if rows > expected {
                        return Ok(rows);
                    }
                    (rows == expected)
                        .then_some(rows)
                        .ok_or_else(|| format!("{rows} rows committed: {:#}", master.job(job_id)))
                },
            );
            master.json(&["cancel", job_id]);
            wait_for_state(&master, case, job_id, "Cancelled");
        } else {
            wait_for_state(&master, case, job_id, "Finished");
        }
        let rows = committed_rows(out, case.output).unwrap_or_else(|error| master.fail(error));
        if let Some(earlier) = case.earlier {
            master.check(!out.join(earlier).exists(), || {
                format!("{}: DROP_DATA left {earlier}", case.file)
            });
        }
        master.check(rows == expected, || {
            format!("{}: {rows} rows committed, expected {expected}", case.file)
        });
        println!("{}: {rows} rows committed, as expected", case.file);
    }
}

fn wait_for_state(master: &Master, case: &Case, job_id: &str, wanted: &str) -> Value {
    master.wait_until(&format!("{} is {wanted}", case.file), DEADLINE, || {
        let job = master.try_job(job_id)?;
        match text(&job, "state").as_str() {
            state if state == wanted => Ok(job),
            "Failed" | "Cancelled" | "Finished" => {
                Err(format!("{}: the job ended otherwise: {job:#}", case.file))
            }
            other => Err(other.to_string()),
        }
    })
}

/// The rows committed under `out` so far (hidden in-progress files skipped).
fn committed_rows(out: &Path, output: Output) -> Result<usize, String> {
    let files = committed_files(out)?;
    match output {
        Output::Parquet => {
            let mut named = Vec::new();
            for file in &files {
                let bytes = std::fs::read(file)
                    .map_err(|error| format!("cannot read {}: {error}", file.display()))?;
                named.push((file.display().to_string(), bytes));
            }
            Ok(read_parquet(&named)?
                .iter()
                .map(|file| file.rows.len())
                .sum())
        }
        Output::GbkLines(texts) => {
            let mut content = String::new();
            for file in &files {
                content.push_str(&gbk_to_utf8(file)?);
            }
            if files.is_empty() {
                return Ok(0);
            }
            if let Some(missing) = texts.iter().find(|text| !content.contains(*text)) {
                return Err(format!("{missing:?} is not in the files: {content}"));
            }
            Ok(content.lines().filter(|line| !line.is_empty()).count())
        }
        Output::LzopLines => {
            let mut rows = 0;
            for file in &files {
                if !file.display().to_string().ends_with(".lzo.txt") {
                    return Err(format!(
                        "{} is not named as SeaTunnel names lzo text",
                        file.display()
                    ));
                }
                rows += lzop_text(file)?
                    .lines()
                    .filter(|line| !line.is_empty())
                    .count();
            }
            Ok(rows)
        }
        Output::Lines | Output::LinesAfterHeader(_) => {
            let mut rows = 0;
            for file in &files {
                let content = std::fs::read_to_string(file)
                    .map_err(|error| format!("cannot read {}: {error}", file.display()))?;
                let mut lines = content.lines();
                if let Output::LinesAfterHeader(header) = output {
                    let first = lines.next().unwrap_or_default();
                    if first != header {
                        return Err(format!(
                            "{} starts with {first:?}, not the header {header:?}",
                            file.display()
                        ));
                    }
                }
                rows += lines.filter(|line| !line.is_empty()).count();
            }
            Ok(rows)
        }
    }
}

/// `file`, an lzop file, decompressed by the `lzop` tool (Debian's package `lzop`), which
/// checks the header's checksum and every block.
fn lzop_text(file: &Path) -> Result<String, String> {
    read_with("lzop", &["-dc"], file, "install Debian's package lzop")
}

/// `file`, written in GBK, as UTF-8 text: decoded by glibc's `iconv`, a reader independent of
/// Weir's encoder, which fails on bytes that are not GBK.
fn gbk_to_utf8(file: &Path) -> Result<String, String> {
    read_with(
        "iconv",
        &["-f", "GBK", "-t", "UTF-8"],
        file,
        "glibc's, in libc-bin",
    )
}

/// What `tool args file` prints, as UTF-8; an error names the tool, the file and the cause.
fn read_with(tool: &str, args: &[&str], file: &Path, source: &str) -> Result<String, String> {
    let output = std::process::Command::new(tool)
        .args(args)
        .arg(file)
        .output()
        .map_err(|error| format!("cannot run {tool} ({source}): {error}"))?;
    if !output.status.success() {
        return Err(format!(
            "{tool} cannot read {}: {}",
            file.display(),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    String::from_utf8(output.stdout).map_err(|error| format!("{tool} gave no UTF-8: {error}"))
}
