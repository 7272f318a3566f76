//! The HTTP side of a secured master: HTTPS with the master's certificate, and the same client
//! tokens as gRPC on `/metrics`, the console's API and the console itself. Checked with curl (an
//! independent client that verifies the certificate against the cluster CA) and headless
//! Chromium (the console's token form).

use std::process::Command;

use weir_e2e::chromium::Browser;

use super::*;

/// `curl` of `url` trusting the cluster CA, with an optional bearer token: (status, body).
/// A failed connection or handshake is `Err` with curl's message.
fn curl(master: &Master, url: &str, token: Option<&str>) -> Result<(u16, String), String> {
    let secured = master.secured().expect("a secured master");
    let mut command = Command::new("curl");
    command.args(["--silent", "--show-error", "--max-time", "10", "--cacert"]);
    command.arg(secured.ca_cert());
    // The master's certificate is named `master` (docs/security.md): reach it by that name.
    let port = url
        .rsplit(':')
        .next()
        .and_then(|rest| rest.split('/').next());
    if let Some(port) = port {
        command.args(["--resolve", &format!("master:{port}:127.0.0.1")]);
    }
    if let Some(token) = token {
        command.args(["--header", &format!("Authorization: Bearer {token}")]);
    }
    command.args(["--write-out", "\n%{http_code}"]);
    command.arg(url.replace("127.0.0.1", "master"));
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("cannot run curl (apt-get install curl): {error}"));
    if !output.status.success() {
        return Err(String::from_utf8_lossy(&output.stderr).into_owned());
    }
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or(("", &text));
    let status = status
        .trim()
        .parse()
        .map_err(|_| format!("no status in {text:?}"))?;
    Ok((status, body.to_string()))
}

#[test]
fn the_console_api_and_metrics_take_the_same_tokens_over_https() {
    let master = secured_master("http_secured");
    let _worker = Worker::start(&master, "worker-1", "1GiB");
    let base = master.http_url();
    master.check(base.starts_with("https://"), || {
        format!("a secured master's HTTP is {base}")
    });
    let tokens = master.secured().expect("secured").clone();

    // The probes answer without a token; data routes do not.
    let (status, _) =
        curl(&master, &format!("{base}/healthz"), None).unwrap_or_else(|e| master.fail(e));
    master.check(status == 200, || format!("/healthz answered {status}"));
    for path in ["/api/v1/cluster", "/metrics"] {
        let (status, body) =
            curl(&master, &format!("{base}{path}"), None).unwrap_or_else(|e| master.fail(e));
        master.check(
            status == 401 && body.contains("Authorization: Bearer"),
            || format!("{path} without a token answered {status}: {body}"),
        );
        let (status, body) = curl(&master, &format!("{base}{path}"), Some("weir_forged"))
            .unwrap_or_else(|e| master.fail(e));
        master.check(status == 401 && body.contains("not valid"), || {
            format!("{path} with a forged token answered {status}: {body}")
        });
    }
    // A viewer's token reads the API (once the worker registered) and the metrics.
    master.wait_until("the API lists worker-1 for a viewer", SOON, || {
        let (status, body) = curl(
            &master,
            &format!("{base}/api/v1/cluster"),
            Some(tokens.viewer_token()),
        )?;
        if status == 200 && body.contains("worker-1") {
            Ok(())
        } else {
            Err(format!("{status}: {body}"))
        }
    });
    let (status, body) = curl(
        &master,
        &format!("{base}/metrics"),
        Some(tokens.admin_token()),
    )
    .unwrap_or_else(|e| master.fail(e));
    master.check(
        status == 200 && body.contains("weir_master_workers"),
        || format!("/metrics with the admin token answered {status}: {body:.300}"),
    );
    // The four refusals above are counted, though the log shows only the first ten per 10 s.
    let refusals = "weir_security_refusals_total{surface=\"http\"} 4\n";
    master.check(body.contains(refusals), || {
        let counted: Vec<&str> = body
            .lines()
            .filter(|line| line.starts_with("weir_security_refusals_total"))
            .collect();
        format!("/metrics should count 4 HTTP refusals: {counted:?}")
    });
    // Plain HTTP on the HTTPS port gets no answer.
    let plain = http_get(&format!(
        "http://{}/healthz",
        base.trim_start_matches("https://")
    ));
    master.check(plain.is_err(), || {
        format!("plain HTTP was answered: {plain:?}")
    });

    // The console asks for a token, then shows the cluster with it.
    let mut browser = Browser::start(1100, 700);
    browser.open(&format!("{base}/"));
    browser.wait_for(
        "the console asks for a token",
        SOON,
        "!!document.getElementById('token-input')",
    );
    browser.eval(&format!(
        "document.getElementById('token-input').value = {:?}; \
         document.getElementById('token-form').requestSubmit(); true",
        tokens.viewer_token()
    ));
    browser.wait_for(
        "the console lists worker-1 once the token is given",
        SOON,
        r#"!!document.querySelector('[data-worker="worker-1"]')"#,
    );
    let log = master.log();
    master.check(
        !log.contains(tokens.viewer_token()) && !log.contains(tokens.admin_token()),
        || "a token appears in the master's log".into(),
    );
}

/// A plain-HTTP GET, which must fail against an HTTPS port.
fn http_get(url: &str) -> Result<weir_e2e::http::Response, String> {
    weir_e2e::http::get(url)
}
