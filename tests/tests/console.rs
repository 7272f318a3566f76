//! The master's web console in a real headless Chromium (Debian's package), driven over the
//! DevTools protocol: the cluster page loads without console errors, lists the worker with its
//! memory, shows the running job, and its memory chart gets points; the job and worker pages
//! render too. With `WEIR_BLESS=1` the screenshots are written to docs/ (they illustrate
//! docs/observability.md); otherwise into the test's directory.
//!
//! Needs only the built binary (FakeSource → LocalFile, no external service) and `chromium`.

use std::path::PathBuf;
use std::time::Duration;

use weir_e2e::chromium::Browser;
use weir_e2e::cluster::{Master, Worker, write_file};
use weir_e2e::job_json::text;

const SOON: Duration = Duration::from_secs(30);
const WORKER: &str = "w-console";

fn blessing() -> bool {
    std::env::var_os("WEIR_BLESS").is_some_and(|value| value == "1")
}

/// Where a screenshot goes: docs/ when blessing, else the test's directory.
fn screenshot_path(master: &Master, name: &str) -> PathBuf {
    if blessing() {
        PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../docs")
            .join(name)
    } else {
        master.dir().join(name)
    }
}

fn assert_no_errors(browser: &Browser, master: &Master, page: &str) {
    master.check(browser.errors().is_empty(), || {
        format!(
            "the {page} logged errors in the browser: {:?}",
            browser.errors()
        )
    });
}

#[test]
fn the_console_shows_workers_memory_and_running_jobs_in_chromium() {
    let master = Master::start_default("console");
    // A small limit, so the chart shows RSS and reservation against it legibly.
    let _worker = Worker::start(&master, WORKER, "160MiB");
    let out = master.dir().join("out");
    let job_file = write_file(
        master.dir(),
        "fake-to-files.conf",
        &format!(
            r#"env {{
  parallelism = 2
  job.mode = "STREAMING"
  checkpoint.interval = 2000
  read_limit.rows_per_second = 300
}}
source {{
  FakeSource {{
    unbounded = true
    rows_per_second = 300
    schema = {{ fields {{ id = "bigint", name = "string", score = "double" }} }}
  }}
}}
sink {{
  LocalFile {{
    path = "{}"
    file_format_type = "json"
  }}
}}
"#,
            out.display()
        ),
    );
    let job_id = master.submit(&job_file);
    master.wait_until("the job runs", SOON, || {
        let job = master.try_job(&job_id)?;
        match text(&job, "state").as_str() {
            "Running" => Ok(()),
            other => Err(other.to_string()),
        }
    });

    let mut browser = Browser::start(1280, 900);
    browser.open(&format!("{}/", master.http_url()));
    let rss = browser.wait_for(
        "the cluster page lists the worker with its memory",
        SOON,
        &format!(
            r#"(() => {{ const b = document.querySelector('[data-worker="{WORKER}"] .rss'); return b ? b.textContent : ""; }})()"#
        ),
    );
    let rss = rss.as_str().unwrap_or_default().to_string();
    master.check(rss.ends_with("MiB"), || {
        format!("the worker's RSS reads {rss:?}")
    });
    browser.wait_for(
        "the cluster page shows the running job",
        SOON,
        &format!(
            r#"(() => {{ const row = document.querySelector('tr[data-job="{job_id}"]'); return !!row && row.innerText.includes("Running"); }})()"#
        ),
    );
    // Many points for the documentation's screenshot; a few to prove the chart draws.
    let wanted = if blessing() { 40 } else { 3 };
    let points = browser.wait_for(
        "the worker's memory chart has points",
        Duration::from_secs(if blessing() { 90 } else { 30 }),
        &format!(
            r#"(() => {{ const line = document.querySelector('[data-worker="{WORKER}"] polyline[data-series="RSS"]');
                 const n = line ? line.getAttribute("points").trim().split(" ").filter(p => p).length : 0;
                 return n >= {wanted} ? n : 0; }})()"#
        ),
    );
    eprintln!("[console] the memory chart has {points} points; RSS {rss}");
    assert_no_errors(&browser, &master, "cluster page");
    browser.save_screenshot(&screenshot_path(&master, "console-cluster.png"));

    browser.eval(&format!("location.hash = '#/jobs/{job_id}'"));
    browser.wait_for(
        "the job page shows each split's queue and a checkpoint",
        SOON,
        r#"(() => document.querySelectorAll('tr[data-split]').length === 2
                 && [...document.querySelectorAll('td')].some(td => /^#\d+$/.test(td.textContent.trim())))()"#,
    );
    browser.wait_for(
        "the job page's throughput chart has points",
        SOON,
        r#"(() => { const line = document.querySelector('polyline[data-series="rows/s"]');
                    return !!line && line.getAttribute("points").trim().split(" ").length >= 2; })()"#,
    );
    assert_no_errors(&browser, &master, "job page");
    browser.save_screenshot(&screenshot_path(&master, "console-job.png"));

    browser.eval(&format!("location.hash = '#/workers/{WORKER}'"));
    browser.wait_for(
        "the worker page lists its two tasks",
        SOON,
        &format!(
            r#"(() => [...document.querySelectorAll('td')].filter(td => td.textContent.startsWith("{job_id}.")).length === 2)()"#
        ),
    );
    assert_no_errors(&browser, &master, "worker page");
    browser.save_screenshot(&screenshot_path(&master, "console-worker.png"));
}
