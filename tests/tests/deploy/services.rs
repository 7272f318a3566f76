//! Master and worker started from the settings files `deploy/` ships — the units' and the
//! ConfigMap's — with only addresses and paths changed, as docs/deploy.md tells users to.

use std::path::Path;
use std::time::Duration;

use weir_e2e::cluster::{Secured, describe, free_port, weir_as};
use weir_e2e::deploy::process::{Notify, Service, wait_until, weir_command};
use weir_e2e::deploy::settings::{configmap_entry, env_file, get, set};
use weir_e2e::deploy::{Scratch, shipped};
use weir_e2e::exactly_once::{Codec, Format, JobFile, Scenario};

/// Start-up of a master or a worker, to READY=1.
const START: Duration = Duration::from_secs(30);
/// A SIGTERM'd process's orderly stop (each of its waits is bounded by 10 s).
const STOP: Duration = Duration::from_secs(30);
/// The job's rows committed to HDFS (two checkpoints of 2 s, on a busy machine).
const COMMITTED: Duration = Duration::from_secs(90);

/// Loopback addresses, the test's certificates and data directory in place of the shipped ones.
struct Local {
    grpc: u16,
    http: u16,
    worker_grpc: u16,
    worker_http: u16,
    secured: Secured,
}

impl Local {
    fn new(scratch: &Scratch) -> Self {
        let certs = scratch.path().join("certs");
        std::fs::create_dir_all(&certs).expect("a certificate directory");
        let secured = Secured::create(&certs);
        secured.issue("master");
        secured.issue("worker-1");
        Self {
            grpc: free_port(),
            http: free_port(),
            worker_grpc: free_port(),
            worker_http: free_port(),
            secured,
        }
    }

    fn cert(&self, name: &str) -> String {
        quoted(&self.secured.dir().join(name))
    }

    fn master_settings(&self, text: &str, data_dir: &Path) -> String {
        let text = set(
            text,
            None,
            "listen",
            &format!("\"127.0.0.1:{}\"", self.grpc),
        );
        let text = set(&text, None, "data_dir", &quoted(data_dir));
        let text = set(
            &text,
            None,
            "http.listen",
            &format!("\"127.0.0.1:{}\"", self.http),
        );
        let text = set(&text, Some("tls"), "cert", &self.cert("master.pem"));
        let text = set(&text, Some("tls"), "key", &self.cert("master-key.pem"));
        let text = set(&text, Some("tls"), "ca", &self.cert("ca.pem"));
        set(&text, Some("auth"), "tokens_file", &self.cert("tokens"))
    }

    fn worker_settings(&self, text: &str) -> String {
        let master = format!("\"https://127.0.0.1:{}\"", self.grpc);
        let text = set(text, None, "master", &master);
        let text = set(
            &text,
            None,
            "listen",
            &format!("\"127.0.0.1:{}\"", self.worker_grpc),
        );
        let text = set(
            &text,
            None,
            "http.listen",
            &format!("\"127.0.0.1:{}\"", self.worker_http),
        );
        let text = set(&text, Some("tls"), "cert", &self.cert("worker-1.pem"));
        let text = set(&text, Some("tls"), "key", &self.cert("worker-1-key.pem"));
        let text = set(&text, Some("tls"), "ca", &self.cert("ca.pem"));
        // The Kubernetes worker listens for HTTP beyond loopback, so it ships a tokens file.
        if get(&text, Some("auth"), "tokens_file").is_some() {
            set(&text, Some("auth"), "tokens_file", &self.cert("tokens"))
        } else {
            text
        }
    }

    fn master_url(&self) -> String {
        format!("https://127.0.0.1:{}", self.grpc)
    }

    /// `weir ARGS --master URL --tls-ca CA` as the admin client.
    fn client(&self, args: &[&str]) -> std::process::Output {
        let url = self.master_url();
        let ca = self.secured.ca_cert().display().to_string();
        let mut all = args.to_vec();
        all.extend(["--master", &url, "--tls-ca", &ca]);
        weir_as(&all, Some(self.secured.admin_token()))
    }
}

fn quoted(path: &Path) -> String {
    format!("\"{}\"", path.display())
}

/// The environment of a unit's EnvironmentFile, with the settings file's path replaced.
fn unit_environment(env_text: &str, config: &Path) -> Vec<(String, String)> {
    env_file(env_text)
        .into_iter()
        .map(|(name, value)| {
            if name.ends_with("_CONFIG") {
                (name, config.display().to_string())
            } else {
                (name, value)
            }
        })
        .collect()
}

/// GET `url` answers 200. The shipped settings have TLS, so their HTTP servers speak HTTPS:
/// curl fetches it without checking the certificate, which tests/tests/security/http.rs checks.
fn ok_200(url: &str) -> Result<(), String> {
    let output = std::process::Command::new("curl")
        .args([
            "--silent",
            "--insecure",
            "--max-time",
            "5",
            "--output",
            "/dev/null",
        ])
        .args(["--write-out", "%{http_code}", url])
        .output()
        .map_err(|error| format!("cannot run curl (apt-get install curl): {error}"))?;
    let status = String::from_utf8_lossy(&output.stdout).trim().to_string();
    if status == "200" {
        Ok(())
    } else {
        Err(format!("{url}: status {status:?}"))
    }
}

/// Starts `weir ROLE` with `env` and a notify socket, and waits for READY=1; /readyz must
/// answer ready by then.
fn start_notified(
    role: &str,
    env: Vec<(String, String)>,
    scratch: &Scratch,
    http: u16,
) -> (Service, Notify) {
    let notify = Notify::bind(scratch.path(), role);
    let mut env = env;
    env.push((
        "NOTIFY_SOCKET".to_string(),
        notify.path().display().to_string(),
    ));
    let mut service = Service::spawn(role, weir_command(&[role], &env), scratch.path());
    if let Err(error) = notify.wait_for("READY=1", START) {
        let running = service.check_running().err().unwrap_or_default();
        panic!("{role}: {error}\n{running}\n{}", service.log());
    }
    let readyz = format!("https://127.0.0.1:{http}/readyz");
    ok_200(&readyz).unwrap_or_else(|error| {
        panic!(
            "{role} sent READY=1 but /readyz is not ready: {error}\n{}",
            service.log()
        )
    });
    (service, notify)
}

/// SIGTERM: STOPPING=1 on the socket and exit status 0.
fn stop_notified(role: &str, service: &mut Service, notify: &Notify) {
    let status = service
        .terminate(STOP)
        .unwrap_or_else(|error| panic!("{role}: {error}"));
    assert!(
        status.success(),
        "{role} exited with {status}:\n{}",
        service.log()
    );
    let messages = notify.drain();
    assert!(
        messages
            .iter()
            .any(|message| message.lines().any(|line| line == "STOPPING=1")),
        "{role} sent no STOPPING=1 on SIGTERM; it sent {messages:?}"
    );
}

#[test]
fn shipped_unit_settings_run_a_kafka_to_hdfs_job() {
    let scratch = Scratch::new("unit-settings");
    let local = Local::new(&scratch);
    let master_toml = scratch.write(
        "master.toml",
        &local.master_settings(
            &shipped("deploy/systemd/master.toml"),
            &scratch.path().join("master-data"),
        ),
    );
    let worker_toml = scratch.write(
        "worker.toml",
        &set(
            &local.worker_settings(&shipped("deploy/systemd/worker.toml")),
            None,
            "advertise",
            &format!("\"https://127.0.0.1:{}\"", local.worker_grpc),
        ),
    );
    let master_env = unit_environment(&shipped("deploy/systemd/master.env"), &master_toml);
    let worker_env = unit_environment(&shipped("deploy/systemd/worker.env"), &worker_toml);

    let (mut master, master_notify) = start_notified("master", master_env, &scratch, local.http);
    let (mut worker, worker_notify) =
        start_notified("worker", worker_env, &scratch, local.worker_http);

    let scenario = Scenario::in_suite("deploy", "weir-deploy", "unit_settings");
    let rows = 0..400;
    scenario.produce(Format::Json, rows.clone());
    let job = scratch.write(
        "job.conf",
        &JobFile::new(Format::Json, 5000).text(&scenario),
    );
    let job = job.display().to_string();
    let args = ["submit", job.as_str(), "-o", "json"];
    let output = local.client(&args);
    assert!(
        output.status.success(),
        "{}\n{}\n{}",
        describe(&args, &output),
        master.log(),
        worker.log()
    );
    let submitted: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("submit -o json prints JSON");
    let job_id = submitted["job_id"].as_str().expect("a job id").to_string();
    scenario.say(format!(
        "job {job_id} submitted through the shipped settings"
    ));

    wait_until("every row is committed exactly once", COMMITTED, || {
        master.check_running()?;
        worker.check_running()?;
        scenario
            .committed(Format::Json, Codec::None)?
            .check_exactly_once(rows.clone())
    })
    .unwrap_or_else(|error| panic!("{error}\n{}\n{}", master.log(), worker.log()));

    let stop = local.client(&["stop", &job_id]);
    assert!(stop.status.success(), "{}", describe(&["stop"], &stop));
    stop_notified("worker", &mut worker, &worker_notify);
    stop_notified("master", &mut master, &master_notify);
}

#[test]
fn kubernetes_configmap_settings_start_a_cluster() {
    let scratch = Scratch::new("configmap-settings");
    let local = Local::new(&scratch);
    let configmap = shipped("deploy/k8s/settings-configmap.yaml");
    let master_toml = scratch.write(
        "master.toml",
        &local.master_settings(
            &configmap_entry(&configmap, "master.toml"),
            &scratch.path().join("master-data"),
        ),
    );
    let worker_text = local.worker_settings(&configmap_entry(&configmap, "worker.toml"));
    let worker_toml = scratch.write("worker.toml", &worker_text);
    let config = |path: &Path| path.display().to_string();
    let mut master = Service::spawn(
        "master",
        weir_command(&["master", "--config", &config(&master_toml)], &[]),
        scratch.path(),
    );
    // The Deployment sets the advertised address from the pod's IP.
    let advertise = format!("https://127.0.0.1:{}", local.worker_grpc);
    let mut worker = Service::spawn(
        "worker",
        weir_command(
            &["worker", "--config", &config(&worker_toml)],
            &[("WEIR_WORKER_ADVERTISE".to_string(), advertise)],
        ),
        scratch.path(),
    );
    let readyz = format!("https://127.0.0.1:{}/readyz", local.worker_http);
    wait_until("the worker is ready (registered)", START, || {
        master.check_running()?;
        worker.check_running()?;
        ok_200(&readyz)
    })
    .unwrap_or_else(|error| panic!("{error}\n{}\n{}", master.log(), worker.log()));
    let output = local.client(&["workers", "-o", "json"]);
    let workers: serde_json::Value =
        serde_json::from_slice(&output.stdout).expect("workers -o json prints JSON");
    let ids: Vec<&str> = workers["workers"]
        .as_array()
        .map(|all| all.iter().filter_map(|w| w["worker_id"].as_str()).collect())
        .unwrap_or_default();
    assert_eq!(
        ids,
        ["worker-1"],
        "the certificate names the worker: {workers}"
    );
}
