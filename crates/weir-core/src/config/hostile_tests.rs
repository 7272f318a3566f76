//! Job text from someone hostile or careless: every case is refused with an error that names
//! the limit or the cause, quickly, and never overflows a stack or exhausts memory.

use std::time::{Duration, Instant};

use super::limits::{MAX_DEPTH, MAX_KEYS, MAX_SUBSTITUTIONS, MAX_TEXT_BYTES};
use super::test_host::TestHost;
use super::*;

const FAKE: &str =
    "source { FakeSource { schema = { fields { id = bigint } } } }\nsink { Console {} }\n";

fn master(text: &str) -> Result<JobConfig, ConfigError> {
    parse_job(text, "job.conf", &ParsePolicy::SelfContained)
}

fn master_err(text: &str) -> ConfigError {
    match master(text) {
        Ok(job) => panic!("expected an error, parsed {job:?}"),
        Err(error) => error,
    }
}

/// Parses on a thread with a 256 KiB stack — less than anything the parser may use — to show
/// that its depth does not depend on the caller's stack; returns the error and how long it
/// took.
fn refused_on_small_stack(text: String) -> (ConfigError, Duration) {
    std::thread::Builder::new()
        .stack_size(256 << 10)
        .spawn(move || {
            let started = Instant::now();
            let error = master(&text).expect_err("hostile text must be refused");
            (error, started.elapsed())
        })
        .unwrap()
        .join()
        .unwrap()
}

#[test]
fn deep_dotted_keys_and_nesting_are_refused_without_touching_the_stack() {
    let kilobyte = format!("{}b = 1", "a.".repeat(500));
    let cases = [
        kilobyte,
        format!("{}b = 1", "a.".repeat(MAX_DEPTH)),
        format!("{}{}", "a {".repeat(10_000), "}".repeat(10_000)),
        format!("a = {}{}", "[".repeat(10_000), "]".repeat(10_000)),
        format!(
            "{}{}x = 1{}",
            "a {".repeat(40),
            "b.".repeat(30),
            "}".repeat(40)
        ),
        format!("a = [{}]", "{ b = [".repeat(40) + &"]}".repeat(40)),
    ];
    for text in cases {
        let (error, took) = refused_on_small_stack(text);
        assert!(matches!(error, ConfigError::Limit { .. }), "{error:?}");
        assert!(error.to_string().contains("64"), "{error}");
        assert!(took < Duration::from_secs(1), "{took:?}: {error}");
    }
    let ok = format!("{}b = 1\n{FAKE}", "a.".repeat(MAX_DEPTH - 1));
    assert!(matches!(master_err(&ok), ConfigError::UnknownOption { .. }));
}

#[test]
fn keys_sharing_a_deep_prefix_take_linear_time() {
    // The HOCON library alone takes minutes here (it copies the shared prefix on each merge).
    let text: String = (0..60)
        .map(|i| format!("{}b{i} = 1\n", "a.".repeat(MAX_DEPTH - 2)))
        .collect::<String>()
        + &(0..60)
            .map(|i| format!("{} {{ c{i} = 1 }}\n", vec!["a"; MAX_DEPTH - 2].join(".")))
            .collect::<String>();
    let started = Instant::now();
    let error = master_err(&format!("{text}{FAKE}"));
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(error.path(), Some("a"), "{error}");
}

#[test]
fn doubling_substitutions_are_refused_before_they_grow() {
    let mut text = String::from("a = \"0123456789012345678901234567\"\n");
    for _ in 0..22 {
        text.push_str("a = ${a}${a}\n");
    }
    let started = Instant::now();
    let error = master_err(&text);
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(matches!(error, ConfigError::Limit { .. }), "{error:?}");
    assert!(error.to_string().contains("1 MiB"), "{error}");
    assert!(error.line().is_some_and(|line| line < 23), "{error}");

    // The same through forward references, in reverse order, and through objects.
    let mut text = String::new();
    for i in 0..30 {
        text.push_str(&format!("k{i} = ${{k{}}}${{k{}}}\n", i + 1, i + 1));
    }
    text.push_str("k30 = \"0123456789\"\n");
    assert!(matches!(master_err(&text), ConfigError::Limit { .. }));
    let mut text = String::from("o0 { x = \"0123456789012345678901234567890123456789\" }\n");
    for i in 1..30 {
        text.push_str(&format!(
            "o{i} {{ l = ${{o{}}}, r = ${{o{}}} }}\n",
            i - 1,
            i - 1
        ));
    }
    assert!(matches!(master_err(&text), ConfigError::Limit { .. }));

    // A deep chain of small objects stays small but nests too deep.
    let mut text = String::from("o0 { x = 1 }\n");
    for i in 1..200 {
        text.push_str(&format!("o{i} {{ x = ${{o{}}} }}\n", i - 1));
    }
    let error = master_err(&text);
    assert!(error.to_string().contains("levels deep"), "{error}");

    // Cycles are refused too (by the bound or by the library), never looped on.
    let error = master_err("a = ${b}x\nb = ${a}y\n");
    assert!(
        matches!(
            error,
            ConfigError::Limit { .. } | ConfigError::Substitution { .. }
        ),
        "{error:?}"
    );
}

#[test]
fn legitimate_substitutions_still_resolve() {
    let text = format!(
        "base {{ parallelism = 2 }}\nname = weir\nenv = ${{base}} {{ job.name = ${{name}}\"-job\" }}\n\
         env.job.mode = STREAMING\nlist = [a]\nlist += b\n{FAKE}"
    );
    let error = master_err(&text);
    // `base`, `name` and `list` are not sections: the substitutions resolved, the sections
    // were checked.
    assert!(
        error.to_string().contains("unknown option 'base'"),
        "{error}"
    );
    let text = format!(
        "env {{ parallelism = 2, job.name = weir }}\nenv {{ job.name = ${{env.job.name}}-job }}\n{FAKE}"
    );
    let job = master(&text).unwrap();
    assert_eq!(job.env.job_name.as_deref(), Some("weir-job"));
    assert_eq!(job.env.parallelism, 2);

    let mut text = String::from("env { job.name = ab }\n");
    for _ in 0..4 {
        text.push_str("env.job.name = ${env.job.name}${env.job.name}\n");
    }
    let job = master(&format!("{text}{FAKE}")).unwrap();
    assert_eq!(job.env.job_name.map(|name| name.len()), Some(32));

    // Long chains that build on the value before grow linearly, and are bounded so.
    let mut text = String::from("env { job.name = a }\n");
    for _ in 0..200 {
        text.push_str("env.job.name = ${env.job.name}b\n");
    }
    let job = master(&format!("{text}{FAKE}")).unwrap();
    assert_eq!(job.env.job_name.map(|name| name.len()), Some(201));
    let appends: String = (0..200).map(|i| format!("list += {i}\n")).collect();
    let error = master_err(&format!("{appends}{FAKE}"));
    assert!(
        error.to_string().contains("unknown option 'list'"),
        "{error}"
    );
}

#[test]
fn other_limits_name_their_value() {
    let text = "#".repeat(MAX_TEXT_BYTES as usize + 1);
    let error = master_err(&text);
    assert!(error.to_string().contains("4 MiB"), "{error}");

    let text: String = (0..=MAX_KEYS).map(|i| format!("k{i} = 1\n")).collect();
    let error = master_err(&text);
    assert!(error.to_string().contains(&MAX_KEYS.to_string()), "{error}");

    let text: String = (0..=MAX_SUBSTITUTIONS)
        .map(|i| format!("k{i} = ${{k0}}\n"))
        .collect();
    let error = master_err(&format!("k0 = 1\n{text}"));
    assert!(
        error.to_string().contains(&MAX_SUBSTITUTIONS.to_string()),
        "{error}"
    );
}

#[test]
fn the_master_reads_no_environment_variable_and_no_file() {
    let path = std::env::var("PATH").unwrap_or_default();
    let error = master_err(&format!("env {{ job.name = ${{PATH}} }}\n{FAKE}"));
    assert!(
        matches!(error, ConfigError::Substitution { .. }),
        "{error:?}"
    );
    assert_eq!(error.line(), Some(1));
    assert!(error.to_string().contains("'${PATH}'"), "{error}");
    assert!(
        !path.is_empty() && !error.to_string().contains(&path),
        "{error}"
    );
    let error = master_err(&format!("env {{ parallelism = ${{?HOME}} }}\n{FAKE}"));
    assert!(error.to_string().contains("weir submit"), "{error}");

    for include in [
        "include \"/etc/passwd\"",
        "include file(\"/etc/hostname\")",
        "include required(\"secrets.conf\")",
        "env { include \"x.conf\" }",
    ] {
        let error = master_err(&format!("{include}\n{FAKE}"));
        assert!(matches!(error, ConfigError::Include { .. }), "{error:?}");
        assert!(error.to_string().contains("is refused"), "{error}");
    }
}

#[test]
fn the_client_resolves_environment_and_includes_and_submits_the_result() {
    let host = TestHost::default()
        .with_env("WEIR_NAME", "orders")
        .with_env("WEIR_SECRET", "s3cr3t")
        .with_file(
            "/jobs/common/env.conf",
            "parallelism = 3\njob.mode = STREAMING\n",
        )
        .with_file("/jobs/sink.conf", "sink { Console {} }\n");
    let text = "env {\n  include \"common/env.conf\"\n  job.name = ${WEIR_NAME}\n  parallelism = 4\n}\n\
                source { FakeSource { schema = { fields { id = bigint } } } }\ninclude \"sink.conf\"\n";
    let file = host.parse(text).unwrap();
    assert!(file.resolved);
    assert_eq!(file.config.env.job_name.as_deref(), Some("orders"));
    assert_eq!(
        file.config.env.parallelism, 4,
        "the file overrides what it includes"
    );
    assert_eq!(file.config.env.job_mode, JobMode::Streaming);
    assert!(file.text.contains("\"orders\""), "{}", file.text);
    assert!(!file.text.contains("WEIR_NAME"), "{}", file.text);
    let on_master = master(&file.text).unwrap();
    assert_eq!(on_master, file.config);

    // Nothing from outside: the text goes as written, so the master's lines are the file's.
    let plain = format!("env {{ parallelism = 2 }}\n{FAKE}");
    let file = host.parse(&plain).unwrap();
    assert!(!file.resolved);
    assert_eq!(file.text, plain);

    // An unset `${?VAR}` is resolved (to nothing) by the client too.
    let file = host
        .parse(&format!("env {{ job.name = ${{?WEIR_UNSET}} }}\n{FAKE}"))
        .unwrap();
    assert!(file.resolved);
    assert_eq!(master(&file.text).unwrap().env.job_name, None);

    let error = host
        .parse(&format!("include \"missing.conf\"\n{FAKE}"))
        .unwrap_err();
    assert!(matches!(error, ConfigError::Include { .. }), "{error:?}");
    assert!(error.to_string().contains("/jobs/missing.conf"), "{error}");
    let error = host
        .parse(&format!("include \"missing\"\n{FAKE}"))
        .unwrap_err();
    assert!(error.to_string().contains("/jobs/missing.conf"), "{error}");

    let host = host.with_file("/jobs/loop.conf", "include \"loop.conf\"\n");
    let error = host
        .parse(&format!("include \"loop.conf\"\n{FAKE}"))
        .unwrap_err();
    assert!(error.to_string().contains("includes itself"), "{error}");

    let error = host
        .parse(&format!("env {{ job.name = ${{WEIR_UNSET}} }}\n{FAKE}"))
        .unwrap_err();
    assert!(
        error.to_string().contains("no environment variable"),
        "{error}"
    );
}

#[test]
fn included_files_see_their_own_keys_where_they_are_included() {
    let host = TestHost::default().with_file(
        "/jobs/naming.conf",
        "job.mode = STREAMING\njob.name = ${job.mode}-job\n",
    );
    let file = host
        .parse(&format!("env {{ include \"naming.conf\" }}\n{FAKE}"))
        .unwrap();
    // `${job.mode}` is the included file's own key, so it means `env.job.mode` there.
    assert_eq!(file.config.env.job_name.as_deref(), Some("STREAMING-job"));
    assert!(file.resolved);
}

#[test]
fn keys_set_twice_are_errors_unless_objects_merge() {
    let error = master_err(&format!(
        "env {{\n  parallelism = 1\n  parallelism = 2\n}}\n{FAKE}"
    ));
    assert_eq!(
        error.to_string(),
        "job.conf:3: 'env.parallelism' is set twice, here and on line 2; only objects merge, \
         so one value would silently replace the other: remove one"
    );
    let error = master_err(&format!(
        "env {{ parallelism = 1 }}\nenv.parallelism = 2\n{FAKE}"
    ));
    assert!(
        matches!(error, ConfigError::DuplicateKey { first_line: 1, .. }),
        "{error:?}"
    );
    let error = master_err(&format!("env = 1\nenv {{ parallelism = 2 }}\n{FAKE}"));
    assert!(
        matches!(error, ConfigError::DuplicateKey { .. }),
        "{error:?}"
    );
    let error = master_err(&format!(
        "env {{ job.name = [a] }}\nenv.job.name = [b]\n{FAKE}"
    ));
    assert!(
        matches!(error, ConfigError::DuplicateKey { .. }),
        "{error:?}"
    );

    // Objects merge, written as blocks or as dotted keys; appending refers to itself.
    let job = master(&format!(
        "env {{ parallelism = 2 }}\nenv {{ job.mode = STREAMING }}\nenv.job.name = a\n\
         env.job.retry.times = 5\nenv {{ job.retry.interval.seconds = 7 }}\n{FAKE}"
    ))
    .unwrap();
    assert_eq!(job.env.parallelism, 2);
    assert_eq!(job.env.job_mode, JobMode::Streaming);
    assert_eq!(
        (job.env.retry_times, job.env.retry_interval_seconds),
        (5, 7)
    );
    let job = master(&format!(
        "env {{ job.name = a }}\nenv.job.name = ${{env.job.name}}b\n{FAKE}"
    ))
    .unwrap();
    assert_eq!(job.env.job_name.as_deref(), Some("ab"));

    // Repeated plugin blocks are two plugins to SeaTunnel: refused, naming both lines.
    let error = master(
        "source { FakeSource { schema = { fields { id = bigint } } } }\n\
         sink {\n LocalFile { path = /a }\n LocalFile { file_format_type = json }\n}",
    )
    .unwrap_err();
    assert_eq!(error.path(), Some("sink.LocalFile"));
    assert_eq!(error.line(), Some(4));
    assert!(error.to_string().contains("line 3"), "{error}");
}

#[test]
fn delimiters_must_be_quoted_strings() {
    for (value, found) in [
        ("0", "number 0"),
        ("NaN", "the bare word \"NaN\""),
        ("true", "boolean true"),
    ] {
        for option in ["row_delimiter", "field_delimiter"] {
            let error = master_err(&format!(
                "source {{ FakeSource {{ schema = {{ fields {{ id = bigint }} }} }} }}\n\
                 sink {{ LocalFile {{\n path = /a\n {option} = {value}\n}} }}"
            ));
            assert_eq!(
                error.to_string(),
                format!(
                    "job.conf:4: 'sink.LocalFile.{option}' must be a quoted string such as \
                     \"\\t\" or \";\", found {found}"
                ),
                "{option} = {value}"
            );
        }
    }
    let job = master(
        "source { FakeSource { schema = { fields { id = bigint } } } }\n\
         sink { LocalFile { path = /a, row_delimiter = \"0\", field_delimiter = \"\\t\" } }",
    )
    .unwrap();
    let SinkConfig::LocalFile(sink) = job.sink else {
        panic!("LocalFile expected")
    };
    assert_eq!(
        (sink.row_delimiter.as_str(), sink.field_delimiter()),
        ("0", "\t")
    );
}

#[test]
fn errors_quote_at_most_a_short_part_of_a_value() {
    let long = "v".repeat(100_000);
    for text in [
        format!("env {{ parallelism = \"{long}\" }}\n{FAKE}"),
        format!("env {{ {long} = 1 }}\n{FAKE}"),
        format!("env {{ job.mode = \"{long}\" }}\n{FAKE}"),
        format!(
            "source {{ FakeSource {{ schema = {{ fields {{ id = bigint }} }} }} }}\n\
             sink {{ LocalFile {{ path = \"/{long}\", rolling.file_size = \"{long}\" }} }}"
        ),
        format!("{long} = 1\n"),
    ] {
        let error = master_err(&text).to_string();
        assert!(
            error.len() < 700,
            "{} characters: {}",
            error.len(),
            &error[..200]
        );
        assert!(error.contains(" characters)"), "{error}");
    }
    for text in [format!("{long}\n"), format!("a = \"{long}")] {
        let error = master_err(&text).to_string();
        assert!(error.len() < 100, "{error}");
    }
}
