//! A generated corpus of hostile job texts through the parser: 10 000 mutations of the job
//! files in `deploy/examples` and `tests/jobs` (byte flips, truncations, deep nesting, huge
//! values, substitution chains, duplicate keys, includes). None may panic, none may abort the
//! process, each must be parsed or refused within a second. The seed is fixed, so a failure
//! reproduces; the case number in the message regenerates the text.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::time::{Duration, Instant};

use super::test_host::TestHost;
use super::*;

const SEEDS: [&str; 7] = [
    include_str!("../../../../deploy/examples/fake-to-console.conf"),
    include_str!("../../../../deploy/examples/kafka-to-console.conf"),
    include_str!("../../../../deploy/examples/kafka-to-hdfs.conf"),
    include_str!("../../../../tests/jobs/fake_512mib_reject.conf"),
    include_str!("../../../../tests/jobs/fake_512mib_wait.conf"),
    include_str!("../../../../tests/jobs/fake_small.conf"),
    include_str!("../../../../tests/jobs/misspelled.conf"),
];

const CASES: u64 = 10_000;

/// Characters that mean something to HOCON, and a few that mean trouble elsewhere.
const INTERESTING: &[&str] = &[
    "{", "}", "[", "]", "$", "${", "${?", "\"", "\"\"\"", "=", ":", "+=", ".", ",", "\n", "#",
    "//", "\\", " ", "a", "1", "-", "0x", "1e999", "\0", "\u{feff}", "é", "include ", "null",
];

/// SplitMix64: small, fast and the same everywhere.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound.max(1) as u64) as usize
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

/// A char boundary of `text` at or before `at`.
fn boundary(text: &str, mut at: usize) -> usize {
    at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn mutate(text: &mut String, random: &mut Random) {
    let at = boundary(text, random.below(text.len() + 1));
    match random.below(14) {
        // Byte flips: one interesting token replaces one character.
        0..=2 => {
            let end = boundary(text, at + 1 + random.below(3));
            let end = if end <= at { text.len().min(at) } else { end };
            text.replace_range(at..end, random.pick(INTERESTING));
        }
        3 => text.insert_str(at, random.pick(INTERESTING)),
        4 => text.truncate(at),
        // Duplicate keys: a line again, somewhere.
        5 => {
            let lines: Vec<&str> = text.lines().collect();
            let line = random.pick(&lines).to_string();
            text.insert_str(
                boundary(text, random.below(text.len() + 1)),
                &format!("\n{line}\n"),
            );
        }
        // Deep nesting, as braces, brackets or dotted keys, near and past the limit.
        6 => {
            let depth = 1 + random.below(130);
            let shape = random.below(3);
            let (open, close) = match shape {
                0 => ("k {", "}"),
                1 => ("k = [", "]"),
                _ => ("k.", ""),
            };
            let tail = if close.is_empty() { "x = 1" } else { "" };
            text.insert_str(
                at,
                &format!("\n{}{tail}{}\n", open.repeat(depth), close.repeat(depth)),
            );
        }
        // Huge values, up to past the text's limit.
        7 => {
            let value = if random.below(5) == 0 {
                "x".repeat(5 << 20)
            } else {
                let length = 10usize.pow(1 + random.below(4) as u32) * (1 + random.below(9));
                random.pick(INTERESTING).repeat(length).replace('"', "'")
            };
            text.insert_str(at, &format!("\nhuge = \"{value}\"\n"));
        }
        // Substitution chains: doubling strings, objects, forward references, cycles, the
        // environment.
        8 => {
            let length = 1 + random.below(30);
            let mut chain = String::from("\ns0 = \"0123456789\"\n");
            for i in 1..=length {
                chain.push_str(&match random.below(5) {
                    0 => format!("s{i} = ${{s{}}}${{s{}}}\n", i - 1, i - 1),
                    1 => format!("s{i} {{ l = ${{s{}}}, r = ${{s{}}} }}\n", i - 1, i - 1),
                    2 => format!("s{} = ${{s{i}}}\n", i + 1),
                    3 => format!("s{i} = ${{?HOME}}${{PATH}}\n"),
                    _ => format!("s0 = ${{s0}}${{s0}}\ns{i} += ${{s{}}}\n", i - 1),
                });
            }
            text.insert_str(at, &chain);
        }
        // Includes, of the master's files and of others.
        9 => {
            let include = random.pick(&[
                "include \"/etc/passwd\"",
                "include file(\"/etc/hostname\")",
                "include required(\"other.conf\")",
                "include \"self.conf\"",
                "include \"missing\"",
                "include url(\"http://example.invalid/x.conf\")",
            ]);
            text.insert_str(at, &format!("\n{include}\n"));
        }
        // Substitutions of sections and options.
        10 => {
            let target = random.pick(&["env", "source", "sink", "env.parallelism", "a.b.c"]);
            text.insert_str(at, &format!("${{{target}}}"));
        }
        // A range deleted, or repeated many times.
        11 => {
            let end = boundary(text, at + random.below(200));
            text.replace_range(at..end, "");
        }
        12 => {
            let end = boundary(text, at + random.below(80));
            let piece = text[at..end].to_string();
            let times = 1 + random.below(2000);
            text.insert_str(end, &piece.repeat(times));
        }
        // A seed spliced into another place of itself.
        _ => {
            let seed = random.pick(&SEEDS);
            text.insert_str(at, &seed[..boundary(seed, random.below(seed.len() + 1))]);
        }
    }
}

/// How a case ended.
#[derive(Default, Debug)]
struct Tally {
    parsed: usize,
    refused_by_limit: usize,
    refused_otherwise: usize,
    panicked: Vec<u64>,
    slowest: (Duration, u64),
}

impl Tally {
    fn record(
        &mut self,
        case: u64,
        took: Duration,
        outcome: std::thread::Result<Result<(), ConfigError>>,
    ) {
        if took > self.slowest.0 {
            self.slowest = (took, case);
        }
        match outcome {
            Ok(Ok(())) => self.parsed += 1,
            Ok(Err(ConfigError::Limit { .. })) => self.refused_by_limit += 1,
            // The parser turns a panic of its thread into this error: still a failure.
            Ok(Err(ConfigError::Internal { .. })) | Err(_) => self.panicked.push(case),
            Ok(Err(_)) => self.refused_otherwise += 1,
        }
    }
}

fn case_text(case: u64) -> String {
    let mut random = Random(0x5EED_0000 + case);
    let mut text = random.pick(&SEEDS).to_string();
    for _ in 0..1 + random.below(3) {
        mutate(&mut text, &mut random);
    }
    text
}

#[test]
fn ten_thousand_mutated_job_files_neither_panic_nor_hang() {
    let host = TestHost::default()
        .with_env("HOME", "/home/weir")
        .with_file("/jobs/other.conf", SEEDS[0])
        .with_file("/jobs/self.conf", "include \"self.conf\"\n")
        .with_file("/etc/passwd", "root:x:0:0::/root:/bin/sh\n");
    let mut master = Tally::default();
    let mut client = Tally::default();
    let started = Instant::now();
    for case in 0..CASES {
        let text = case_text(case);
        let begun = Instant::now();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            parse_job(&text, "corpus.conf", &ParsePolicy::SelfContained).map(drop)
        }));
        master.record(case, begun.elapsed(), outcome);
        // Every tenth case also as a client's file, with includes read from memory.
        if case % 10 == 0 {
            let begun = Instant::now();
            let outcome = catch_unwind(AssertUnwindSafe(|| host.parse(&text).map(drop)));
            client.record(case, begun.elapsed(), outcome);
        }
    }
    eprintln!(
        "master side: {master:?}\nclient side: {client:?}\nin {:?}",
        started.elapsed()
    );
    assert!(
        master.panicked.is_empty(),
        "cases that panicked: {:?}",
        master.panicked
    );
    assert!(
        client.panicked.is_empty(),
        "cases that panicked: {:?}",
        client.panicked
    );
    for tally in [&master, &client] {
        assert!(
            tally.slowest.0 < Duration::from_secs(1),
            "case {} took {:?}",
            tally.slowest.1,
            tally.slowest.0
        );
    }
    // The corpus reaches every outcome, so it tests what it claims to.
    assert!(master.parsed > 100, "{master:?}");
    assert!(master.refused_by_limit > 100, "{master:?}");
    assert!(master.refused_otherwise > 1000, "{master:?}");
}
