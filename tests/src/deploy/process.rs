//! `weir master` / `weir worker` processes started from settings files, as a systemd unit starts
//! them: the unit's `EnvironmentFile` as the environment, and `NOTIFY_SOCKET` pointing at a
//! datagram socket of the test's own ([`Notify`]), where systemd would read `READY=1` and
//! `STOPPING=1`.

use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::cluster::weir_binary;

/// How often waits poll.
const POLL_EVERY: Duration = Duration::from_millis(100);

/// The socket systemd listens on for a `Type=notify` service's state changes.
pub struct Notify {
    socket: UnixDatagram,
    path: PathBuf,
}

impl Notify {
    /// Binds `notify.sock` in `dir`.
    pub fn bind(dir: &Path, name: &str) -> Self {
        let path = dir.join(format!("{name}.notify.sock"));
        let socket = UnixDatagram::bind(&path)
            .unwrap_or_else(|error| panic!("cannot bind {}: {error}", path.display()));
        socket
            .set_read_timeout(Some(POLL_EVERY))
            .expect("a read timeout on the notify socket");
        Self { socket, path }
    }

    /// The value of `NOTIFY_SOCKET` for the service.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Messages received until one has the line `line` (e.g. `READY=1`), at most `within`;
    /// `Err` lists what came instead.
    pub fn wait_for(&self, line: &str, within: Duration) -> Result<Vec<String>, String> {
        let started = Instant::now();
        let mut seen = Vec::new();
        let mut buffer = [0u8; 4096];
        while started.elapsed() < within {
            match self.socket.recv(&mut buffer) {
                Ok(length) => {
                    let message = String::from_utf8_lossy(&buffer[..length]).into_owned();
                    let done = message.lines().any(|got| got == line);
                    seen.push(message);
                    if done {
                        return Ok(seen);
                    }
                }
                Err(error)
                    if matches!(
                        error.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(error) => return Err(format!("reading the notify socket: {error}")),
            }
        }
        Err(format!(
            "no `{line}` on the notify socket within {within:?}; received {seen:?}"
        ))
    }

    /// Messages already waiting on the socket (none if there are none).
    pub fn drain(&self) -> Vec<String> {
        let mut seen = Vec::new();
        let mut buffer = [0u8; 4096];
        self.socket
            .set_nonblocking(true)
            .expect("a non-blocking notify socket");
        while let Ok(length) = self.socket.recv(&mut buffer) {
            seen.push(String::from_utf8_lossy(&buffer[..length]).into_owned());
        }
        self.socket
            .set_nonblocking(false)
            .expect("a blocking notify socket");
        seen
    }
}

/// `weir ARGS` with `env` as its environment on top of the test's, less every `WEIR_*` and
/// `NOTIFY_SOCKET` variable of the test's own (they would change what the process does).
pub fn weir_command(args: &[&str], env: &[(String, String)]) -> Command {
    let mut command = Command::new(weir_binary());
    command.args(args).stdin(Stdio::null());
    without_test_environment(&mut command);
    command.envs(env.iter().map(|(name, value)| (name, value)));
    command
}

/// Removes the test's own `WEIR_*` and `NOTIFY_SOCKET` variables from `command`'s environment.
pub fn without_test_environment(command: &mut Command) {
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("WEIR_") || name == "NOTIFY_SOCKET" {
            command.env_remove(name);
        }
    }
}

/// A running process with its output in a log file; killed (SIGKILL) when dropped.
pub struct Service {
    name: String,
    child: Option<Child>,
    log_path: PathBuf,
}

impl Service {
    /// Starts `command` with stdout and stderr appended to `NAME.log` in `dir`.
    pub fn spawn(name: &str, mut command: Command, dir: &Path) -> Self {
        let log_path = dir.join(format!("{name}.log"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .unwrap_or_else(|error| panic!("cannot open {}: {error}", log_path.display()));
        let child = command
            .stdout(log.try_clone().expect("clone the log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|error| panic!("cannot start {name} ({command:?}): {error}"));
        Self {
            name: name.to_string(),
            child: Some(child),
            log_path,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).unwrap_or_default()
    }

    /// The whole log so far.
    pub fn log(&self) -> String {
        String::from_utf8_lossy(&std::fs::read(&self.log_path).unwrap_or_default()).into_owned()
    }

    /// `Err` with the log when the process has exited (it should be running).
    pub fn check_running(&mut self) -> Result<(), String> {
        let Some(child) = self.child.as_mut() else {
            return Err(format!("{} is not running", self.name));
        };
        match child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!(
                "{} exited with {status}; its log:\n{}",
                self.name,
                self.log()
            )),
            Err(error) => Err(format!("cannot wait for {}: {error}", self.name)),
        }
    }

    /// Sends SIGTERM (as `systemctl stop` and Kubernetes do) and waits for the exit, at most
    /// `within`.
    pub fn terminate(&mut self, within: Duration) -> Result<ExitStatus, String> {
        let pid = self.pid().to_string();
        let status = Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .map_err(|error| format!("cannot run kill: {error}"))?;
        if !status.success() {
            return Err(format!("`kill -TERM {pid}` exited with {status}"));
        }
        let started = Instant::now();
        let child = self.child.as_mut().ok_or("not running")?;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => {
                    self.child = None;
                    return Ok(status);
                }
                Ok(None) if started.elapsed() < within => std::thread::sleep(POLL_EVERY),
                Ok(None) => {
                    return Err(format!(
                        "{} did not exit within {within:?} of SIGTERM; its log:\n{}",
                        self.name,
                        self.log()
                    ));
                }
                Err(error) => return Err(format!("cannot wait for {}: {error}", self.name)),
            }
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Polls `probe` every 100 ms until it returns `Ok`, at most `within`; then fails with `what`
/// and the last observation.
pub fn wait_until<T>(
    what: &str,
    within: Duration,
    mut probe: impl FnMut() -> Result<T, String>,
) -> Result<T, String> {
    let started = Instant::now();
    loop {
        match probe() {
            Ok(value) => return Ok(value),
            Err(observed) if started.elapsed() >= within => {
                return Err(format!(
                    "timed out after {within:?} waiting until {what}; last observed: {observed}"
                ));
            }
            Err(_) => std::thread::sleep(POLL_EVERY),
        }
    }
}
