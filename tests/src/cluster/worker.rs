//! Test workers: `weir worker` processes registered with a test [`Master`], with optional
//! stdout capture and RSS sampling.

use super::*;

/// Settings of a test worker.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// `--memory-limit`, e.g. `1GiB`.
    pub memory_limit: String,
    /// Further arguments for `weir worker`.
    pub extra_args: Vec<String>,
    /// `--master` URL, when not the master's own: e.g. a proxy between them.
    pub master_url: Option<String>,
    /// Capture the worker's stdout (where the Console sink prints rows) in its own file,
    /// `worker-ID.stdout` in the master's directory, through a pipe the test can stop reading
    /// ([`Worker::pause_stdout`]) to stall the Console sink. Without it, stdout goes to the log.
    pub capture_stdout: bool,
    /// For a secured master: the certificate and key the worker presents (with the cluster
    /// CA), instead of one issued for its id.
    pub certificate: Option<(PathBuf, PathBuf)>,
}

impl WorkerOptions {
    /// `--memory-limit LIMIT`, stdout into the log.
    pub fn new(memory_limit: &str) -> Self {
        WorkerOptions {
            memory_limit: memory_limit.to_string(),
            extra_args: Vec::new(),
            master_url: None,
            capture_stdout: false,
            certificate: None,
        }
    }

    /// The same, with stdout captured (see [`WorkerOptions::capture_stdout`]).
    pub fn capturing_stdout(mut self) -> Self {
        self.capture_stdout = true;
        self
    }
}

/// Copies a worker's stdout pipe into a file, unless paused. While paused nothing is read, so
/// once the kernel's pipe buffer (64 KiB on Linux) is full the worker's writes to stdout block.
struct StdoutPump {
    path: PathBuf,
    paused: Arc<(Mutex<bool>, Condvar)>,
    /// Newlines copied so far (counting them here spares re-reading the file).
    lines: Arc<AtomicU64>,
}

impl StdoutPump {
    fn start(mut pipe: ChildStdout, path: PathBuf) -> Result<Self, HarnessError> {
        let mut file = File::create(&path).map_err(|error| {
            HarnessError::io(format!("cannot create {}", path.display()), error)
        })?;
        let paused = Arc::new((Mutex::new(false), Condvar::new()));
        let gate = Arc::clone(&paused);
        let lines = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&lines);
        std::thread::spawn(move || {
            let mut buffer = vec![0u8; 64 * 1024];
            loop {
                {
                    let (lock, condvar) = &*gate;
                    let mut paused = lock.lock().unwrap_or_else(PoisonError::into_inner);
                    while *paused {
                        paused = condvar.wait(paused).unwrap_or_else(PoisonError::into_inner);
                    }
                }
                match pipe.read(&mut buffer) {
                    Ok(0) | Err(_) => return,
                    Ok(read) => {
                        if file.write_all(&buffer[..read]).is_err() {
                            return;
                        }
                        let newlines = buffer[..read].iter().filter(|&&b| b == b'\n').count();
                        counter.fetch_add(newlines as u64, Ordering::Relaxed);
                    }
                }
            }
        });
        Ok(StdoutPump {
            path,
            paused,
            lines,
        })
    }

    fn set_paused(&self, pause: bool) {
        let (lock, condvar) = &*self.paused;
        *lock.lock().unwrap_or_else(PoisonError::into_inner) = pause;
        condvar.notify_all();
    }
}

/// A running `weir worker` registered with a [`Master`].
pub struct Worker {
    child: Option<Child>,
    id: String,
    address: SocketAddr,
    /// Where its HTTP server (/metrics, /healthz, /readyz) listens.
    http_address: SocketAddr,
    log_path: PathBuf,
    stdout: Option<StdoutPump>,
}

impl Worker {
    /// Starts `weir worker --id ID --memory-limit LIMIT` for `master` and waits until
    /// `weir workers` lists it ALIVE.
    pub fn start(master: &Master, id: &str, memory_limit: &str) -> Self {
        Self::start_with(master, id, WorkerOptions::new(memory_limit))
    }

    /// Starts `weir worker --id ID` with `options` for `master` and waits until `weir workers`
    /// lists it ALIVE.
    pub fn start_with(master: &Master, id: &str, options: WorkerOptions) -> Self {
        Self::try_start_with(master, id, options).unwrap_or_else(|error| panic!("{error}"))
    }

    /// [`Worker::start_with`], or what went wrong (with the cluster's logs).
    pub fn try_start_with(
        master: &Master,
        id: &str,
        options: WorkerOptions,
    ) -> Result<Self, HarnessError> {
        let mut worker = Self::try_spawn(master, id, options)?;
        let started = Instant::now();
        loop {
            if let Some(child) = worker.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                worker.child = None;
                return Err(HarnessError::ExitedAtStartup {
                    cluster: master.name().to_string(),
                    process: format!("weir worker {id}"),
                    status,
                    logs: master.logs(),
                });
            }
            let observed = match master.try_worker(id) {
                Ok(Some(entry)) if entry["state"] == "ALIVE" => return Ok(worker),
                Ok(entry) => format!("{entry:?}"),
                Err(error) => error,
            };
            if started.elapsed() > STARTUP_DEADLINE {
                return Err(HarnessError::Timeout {
                    cluster: master.name().to_string(),
                    what: format!("worker {id} is listed ALIVE"),
                    after: started.elapsed(),
                    observed,
                    logs: master.logs(),
                });
            }
            std::thread::sleep(POLL_EVERY);
        }
    }

    /// Starts `weir worker --id ID` with `options` for `master` without waiting for it to
    /// register (for workers that must not get in). For a secured master it presents
    /// `options.certificate`, or a certificate issued for `id`, and trusts the cluster CA.
    pub fn spawn(master: &Master, id: &str, options: WorkerOptions) -> Self {
        Self::try_spawn(master, id, options).unwrap_or_else(|error| master.fail(error))
    }

    /// [`Worker::spawn`], or why the process could not be started.
    pub fn try_spawn(
        master: &Master,
        id: &str,
        options: WorkerOptions,
    ) -> Result<Self, HarnessError> {
        let (port, http_port) = try_free_port_pair()?;
        let address = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
        let http_address = SocketAddr::from((Ipv4Addr::LOCALHOST, http_port));
        let log_path = master.dir().join(format!("worker-{id}.log"));
        let mut args = vec![
            "worker".to_string(),
            "--master".to_string(),
            options
                .master_url
                .clone()
                .unwrap_or_else(|| master.url().to_string()),
            "--listen".to_string(),
            address.to_string(),
            "--id".to_string(),
            id.to_string(),
            "--memory-limit".to_string(),
            options.memory_limit.clone(),
            // Its own port: several workers run side by side, and the default 5881 is one port.
            "--http-listen".to_string(),
            http_address.to_string(),
        ];
        if let Some(secured) = master.secured() {
            let (cert, key) = match options.certificate.clone() {
                Some(files) => files,
                None => secured.try_issue(id)?,
            };
            args.extend(secured.peer_args(&cert, &key));
        }
        args.extend(options.extra_args.iter().cloned());
        let mut child = spawn_process(
            master.binary(),
            &args,
            &log_path,
            options.capture_stdout,
            &[],
        )?;
        let stdout = match child.stdout.take() {
            Some(pipe) => {
                match StdoutPump::start(pipe, master.dir().join(format!("worker-{id}.stdout"))) {
                    Ok(pump) => Some(pump),
                    Err(error) => {
                        stop(&mut Some(child));
                        return Err(error);
                    }
                }
            }
            None => None,
        };
        Ok(Self {
            child: Some(child),
            id: id.to_string(),
            address,
            http_address,
            log_path,
            stdout,
        })
    }

    /// The worker id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// The worker's own gRPC address.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// `http://127.0.0.1:PORT` of its HTTP server (`/metrics`, `/healthz`, `/readyz`).
    pub fn http_url(&self) -> String {
        format!("http://{}", self.http_address)
    }

    /// Its log file.
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }

    /// Process id of the worker.
    pub fn pid(&self) -> u32 {
        self.try_pid().expect("the worker is running")
    }

    /// Process id of the worker, `None` once it was killed or exited.
    pub fn try_pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `127.0.0.1:PORT` of its HTTP server.
    pub fn http_address(&self) -> SocketAddr {
        self.http_address
    }

    /// User + system CPU seconds the worker process has used so far (`/proc/PID/stat`).
    pub fn cpu_seconds(&self) -> Option<f64> {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.try_pid()?)).ok()?;
        // The command name (field 2) is in parentheses and may hold spaces.
        let rest = stat.get(stat.rfind(')')? + 2..)?;
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // `rest` starts at field 3 (state); utime is field 14, stime field 15, in clock ticks
        // (USER_HZ, 100 on Linux).
        let utime: f64 = fields.get(11)?.parse().ok()?;
        let stime: f64 = fields.get(12)?.parse().ok()?;
        Some((utime + stime) / 100.0)
    }

    /// `kill -9` the worker and reap it.
    pub fn kill_9(&mut self) {
        stop(&mut self.child);
    }

    /// Sends the worker SIGTERM and waits until it exits, at most `within`. Returns its exit
    /// status, or why it did not exit (the worker is then killed when dropped).
    pub fn terminate(&mut self, within: Duration) -> Result<ExitStatus, String> {
        terminate(&mut self.child, within)
    }

    /// The worker's resident set size now (VmRSS from /proc), if it is running.
    pub fn rss_bytes(&self) -> Option<u64> {
        self.proc_status_bytes("VmRSS:")
    }

    /// The worker process's peak RSS so far (`VmHWM` in /proc/PID/status): catches a spike
    /// that falls between two samples of [`Worker::rss_bytes`]. `None` once it has exited.
    pub fn peak_rss_bytes(&self) -> Option<u64> {
        self.proc_status_bytes("VmHWM:")
    }

    fn proc_status_bytes(&self, field: &str) -> Option<u64> {
        let pid = self.try_pid()?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
        let line = status.lines().find(|line| line.starts_with(field))?;
        let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
        Some(kib * 1024)
    }

    /// The file the captured stdout goes to ([`WorkerOptions::capture_stdout`]).
    pub fn stdout_path(&self) -> Option<&Path> {
        self.stdout.as_ref().map(|pump| pump.path.as_path())
    }

    /// The complete lines the worker has printed to stdout so far (a line still being written
    /// is left out). Panics if stdout is not captured.
    pub fn stdout_lines(&self) -> Vec<String> {
        let path = self
            .stdout_path()
            .expect("stdout_lines needs a worker started with capture_stdout");
        let bytes = std::fs::read(path)
            .unwrap_or_else(|error| panic!("cannot read {}: {error}", path.display()));
        let complete = match bytes.iter().rposition(|&byte| byte == b'\n') {
            Some(last) => &bytes[..=last],
            None => &[][..],
        };
        String::from_utf8_lossy(complete)
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// How many lines the worker has printed to stdout so far (0 if stdout is not captured).
    pub fn stdout_line_count(&self) -> u64 {
        self.stdout
            .as_ref()
            .map_or(0, |pump| pump.lines.load(Ordering::Relaxed))
    }

    /// Stops reading the worker's stdout: once the pipe buffer is full, every write the worker
    /// makes to stdout (the Console sink's) blocks until [`Worker::resume_stdout`].
    pub fn pause_stdout(&self) {
        self.stdout
            .as_ref()
            .expect("pause_stdout needs a worker started with capture_stdout")
            .set_paused(true);
    }

    /// Reads the worker's stdout again after [`Worker::pause_stdout`].
    pub fn resume_stdout(&self) {
        self.stdout
            .as_ref()
            .expect("resume_stdout needs a worker started with capture_stdout")
            .set_paused(false);
    }
}

impl Drop for Worker {
    fn drop(&mut self) {
        stop(&mut self.child);
        // Let the pump read to the end of the closed pipe and exit.
        if let Some(pump) = &self.stdout {
            pump.set_paused(false);
        }
    }
}
