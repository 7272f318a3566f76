//! Headless Chromium (Debian's `chromium` package) driven over the DevTools protocol: open a
//! page, collect its console errors and uncaught exceptions, evaluate JavaScript in it, take a
//! screenshot. A small synchronous client over one WebSocket (`tungstenite`), so the tests need
//! no browser-automation framework.
//!
//! A missing `chromium` fails the test with the package to install.

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

const INSTALL: &str =
    "install Debian's chromium package (`apt-get install chromium`; CI's .ci/run does)";
/// How long Chromium may take to start and one DevTools call to answer.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// A headless Chromium with one page; killed on drop.
pub struct Browser {
    child: Child,
    socket: WebSocket<MaybeTlsStream<TcpStream>>,
    session: String,
    next_id: u64,
    /// Console errors, uncaught exceptions and error log entries seen so far.
    errors: Vec<String>,
    _profile: tempfile_dir::TempDir,
}

mod tempfile_dir {
    //! A directory removed on drop (Chromium's profile).
    use std::path::{Path, PathBuf};

    pub struct TempDir(PathBuf);

    impl TempDir {
        pub fn new(prefix: &str) -> Self {
            let path = std::env::temp_dir().join(crate::unique_name(prefix));
            std::fs::create_dir_all(&path)
                .unwrap_or_else(|error| panic!("cannot create {}: {error}", path.display()));
            TempDir(path)
        }

        pub fn path(&self) -> &Path {
            &self.0
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

fn chromium_binary() -> std::path::PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .flat_map(|dir| ["chromium", "chromium-browser"].map(|name| dir.join(name)))
            .find(|path| path.is_file())
    });
    found.unwrap_or_else(|| panic!("`chromium` is not installed: {INSTALL}"))
}

impl Browser {
    /// Starts headless Chromium with a `width` × `height` window and opens a blank page.
    pub fn start(width: u32, height: u32) -> Self {
        let profile = tempfile_dir::TempDir::new("weir-e2e-chromium");
        let mut child = Command::new(chromium_binary())
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--hide-scrollbars",
                "--remote-debugging-port=0",
                // Secured test masters serve HTTPS with a certificate of the test's own CA; curl
                // checks that certificate against the CA (tests/tests/security/http.rs).
                "--ignore-certificate-errors",
                &format!("--window-size={width},{height}"),
                &format!("--user-data-dir={}", profile.path().display()),
                "about:blank",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start chromium ({INSTALL}): {error}"));
        // Chromium prints the browser's DevTools WebSocket URL on stderr once it listens.
        let stderr = child.stderr.take().expect("piped stderr");
        let (found, url) = mpsc::channel();
        std::thread::spawn(move || {
            let mut found = Some(found);
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { return };
                if let Some(url) = line.strip_prefix("DevTools listening on ")
                    && let Some(found) = found.take()
                {
                    let _ = found.send(url.trim().to_string());
                }
                // Keep draining so Chromium never blocks on a full pipe.
            }
        });
        let url = match url.recv_timeout(CALL_TIMEOUT) {
            Ok(url) => url,
            Err(_) => {
                let _ = child.kill();
                panic!("chromium did not print its DevTools URL within {CALL_TIMEOUT:?}");
            }
        };
        let (socket, _) = tungstenite::connect(url.as_str()).unwrap_or_else(|error| {
            panic!("cannot connect to Chromium's DevTools at {url}: {error}")
        });
        if let MaybeTlsStream::Plain(stream) = socket.get_ref() {
            stream
                .set_read_timeout(Some(CALL_TIMEOUT))
                .expect("set a read timeout");
        }
        let mut browser = Browser {
            child,
            socket,
            session: String::new(),
            next_id: 0,
            errors: Vec::new(),
            _profile: profile,
        };
        let target = browser.call(None, "Target.createTarget", json!({ "url": "about:blank" }));
        let target_id = target["targetId"]
            .as_str()
            .expect("a target id")
            .to_string();
        let attached = browser.call(
            None,
            "Target.attachToTarget",
            json!({ "targetId": target_id, "flatten": true }),
        );
        browser.session = attached["sessionId"]
            .as_str()
            .expect("a session id")
            .to_string();
        for domain in ["Page.enable", "Runtime.enable", "Log.enable"] {
            browser.page_call(domain, json!({}));
        }
        browser
    }

    /// Sends `method` (to the page's session when `session` is given) and waits for its
    /// answer, collecting the events that arrive meanwhile.
    fn call(&mut self, session: Option<&str>, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut message = json!({ "id": id, "method": method, "params": params });
        if let Some(session) = session {
            message["sessionId"] = json!(session);
        }
        self.socket
            .send(Message::Text(message.to_string().into()))
            .unwrap_or_else(|error| panic!("DevTools {method}: {error}"));
        let started = Instant::now();
        loop {
            let message = self.next_message(method, started);
            if message["id"] == id {
                if let Some(error) = message.get("error") {
                    panic!("DevTools {method} failed: {error}");
                }
                return message["result"].clone();
            }
        }
    }

    fn page_call(&mut self, method: &str, params: Value) -> Value {
        let session = self.session.clone();
        self.call(Some(&session), method, params)
    }

    /// Reads one protocol message, recording it if it reports an error on the page.
    fn next_message(&mut self, waiting_for: &str, started: Instant) -> Value {
        loop {
            if started.elapsed() > CALL_TIMEOUT {
                panic!("DevTools {waiting_for}: no answer within {CALL_TIMEOUT:?}");
            }
            let message = match self.socket.read() {
                Ok(Message::Text(text)) => text,
                Ok(_) => continue,
                Err(error) => panic!("DevTools {waiting_for}: {error}"),
            };
            let value: Value = serde_json::from_str(message.as_str())
                .unwrap_or_else(|error| panic!("DevTools sent bad JSON ({error}): {message}"));
            self.record_event(&value);
            return value;
        }
    }

    fn record_event(&mut self, event: &Value) {
        let params = &event["params"];
        match event["method"].as_str() {
            Some("Runtime.consoleAPICalled")
                if matches!(params["type"].as_str(), Some("error" | "assert")) =>
            {
                let text: Vec<String> = params["args"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|arg| {
                        arg["value"]
                            .as_str()
                            .map(str::to_string)
                            .unwrap_or_else(|| arg["description"].to_string())
                    })
                    .collect();
                self.errors
                    .push(format!("console.error: {}", text.join(" ")));
            }
            Some("Runtime.exceptionThrown") => {
                let details = &params["exceptionDetails"];
                self.errors.push(format!(
                    "uncaught exception: {} {}",
                    details["text"], details["exception"]["description"]
                ));
            }
            Some("Log.entryAdded") if params["entry"]["level"] == "error" => {
                self.errors.push(format!(
                    "log error: {} ({})",
                    params["entry"]["text"], params["entry"]["url"]
                ));
            }
            _ => {}
        }
    }

    /// Opens `url` and waits for its load event.
    pub fn open(&mut self, url: &str) {
        let navigated = self.page_call("Page.navigate", json!({ "url": url }));
        if let Some(error) = navigated.get("errorText") {
            panic!("Chromium could not open {url}: {error}");
        }
        let started = Instant::now();
        loop {
            let event = self.next_message("Page.loadEventFired", started);
            if event["method"] == "Page.loadEventFired" {
                return;
            }
        }
    }

    /// Evaluates `expression` in the page and returns its value (JSON-serialisable).
    pub fn eval(&mut self, expression: &str) -> Value {
        let result = self.page_call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true, "awaitPromise": true }),
        );
        if let Some(exception) = result.get("exceptionDetails") {
            panic!("evaluating {expression:?} threw: {exception}");
        }
        result["result"]["value"].clone()
    }

    /// Evaluates `expression` every 250 ms until it is truthy (at most `timeout`), returning
    /// it; fails with `what` and the last value otherwise.
    pub fn wait_for(&mut self, what: &str, timeout: Duration, expression: &str) -> Value {
        let started = Instant::now();
        loop {
            let value = self.eval(expression);
            let truthy = match &value {
                Value::Null => false,
                Value::Bool(flag) => *flag,
                Value::Number(number) => number.as_f64().is_some_and(|n| n != 0.0),
                Value::String(text) => !text.is_empty(),
                _ => true,
            };
            if truthy {
                return value;
            }
            if started.elapsed() > timeout {
                let page = self.eval("document.body ? document.body.innerText : ''");
                panic!(
                    "timed out after {timeout:?} waiting until {what}; last value {value}\n--- page text ---\n{}",
                    page.as_str().unwrap_or_default()
                );
            }
            std::thread::sleep(Duration::from_millis(250));
            // Let events that arrived meanwhile (console errors) be recorded.
        }
    }

    /// Console errors, uncaught exceptions and error log entries of the page so far.
    pub fn errors(&self) -> &[String] {
        &self.errors
    }

    /// A PNG screenshot of the page's viewport.
    pub fn screenshot_png(&mut self) -> Vec<u8> {
        let shot = self.page_call("Page.captureScreenshot", json!({ "format": "png" }));
        let data = shot["data"].as_str().expect("screenshot data");
        base64::engine::general_purpose::STANDARD
            .decode(data)
            .expect("the screenshot is base64")
    }

    /// Saves a screenshot to `path`.
    pub fn save_screenshot(&mut self, path: &Path) {
        let png = self.screenshot_png();
        std::fs::write(path, png)
            .unwrap_or_else(|error| panic!("cannot write {}: {error}", path.display()));
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.socket.close(None);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
