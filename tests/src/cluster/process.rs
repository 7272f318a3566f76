//! The `weir` processes of a test cluster: finding the binary, running client commands,
//! starting and stopping master and worker processes with their logs, free ports.

use super::*;

/// The `weir` binary next to the test executable (`target/<profile>/weir`).
pub fn weir_binary() -> PathBuf {
    try_weir_binary().unwrap_or_else(|error| panic!("{error}"))
}

/// [`weir_binary`], or why it is not there.
pub fn try_weir_binary() -> Result<PathBuf, HarnessError> {
    let exe = std::env::current_exe()
        .map_err(|error| HarnessError::io("the path of the test executable", error))?;
    // The test executable lives in target/<profile>/deps/.
    let profile_dir = exe.parent().and_then(Path::parent).unwrap_or(exe.as_path());
    let binary = profile_dir.join(format!("weir{}", std::env::consts::EXE_SUFFIX));
    if !binary.is_file() {
        return Err(HarnessError::BinaryMissing {
            path: binary,
            hint: "run `cargo build -p weir-cli` (./tests/run does it)",
        });
    }
    Ok(binary)
}

/// Runs `weir ARGS` (no master implied) and returns what it did.
pub fn weir<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Output {
    weir_as(args, None)
}

/// Variables of the test's own environment that would change what a `weir` process does.
const WEIR_VARIABLES: [&str; 23] = [
    "WEIR_MASTER",
    "WEIR_MASTER_CONFIG",
    "WEIR_WORKER_CONFIG",
    "WEIR_MEMORY_LIMIT",
    "WEIR_WORKER_ID",
    "WEIR_WORKER_LISTEN",
    "WEIR_WORKER_ADVERTISE",
    "WEIR_HIGH_WATERMARK",
    "WEIR_MASTER_LISTEN",
    "WEIR_MASTER_DATA_DIR",
    "WEIR_HEARTBEAT_TIMEOUT_MS",
    "WEIR_HEARTBEAT_INTERVAL_MS",
    "WEIR_LOG_FORMAT",
    "WEIR_TLS_CERT",
    "WEIR_TLS_KEY",
    "WEIR_TLS_CA",
    "WEIR_TOKENS_FILE",
    "WEIR_INSECURE",
    "WEIR_TOKEN",
    "WEIR_TOKEN_FILE",
    "WEIR_CHECKPOINT_STORAGE",
    "WEIR_CHECKPOINT_RETAINED",
    "WEIR_HTTP_LISTEN",
];

/// Runs `weir ARGS` with `WEIR_TOKEN=token` when given (no master implied).
pub fn weir_as<S: AsRef<std::ffi::OsStr>>(args: &[S], token: Option<&str>) -> Output {
    run_weir(&weir_binary(), args, token).unwrap_or_else(|error| panic!("{error}"))
}

/// Runs `binary ARGS` (a `weir` binary) with `WEIR_TOKEN=token` when given, without the
/// `WEIR_*` variables of this process's environment.
pub fn run_weir<S: AsRef<std::ffi::OsStr>>(
    binary: &Path,
    args: &[S],
    token: Option<&str>,
) -> Result<Output, HarnessError> {
    let mut command = Command::new(binary);
    command.args(args).stdin(Stdio::null());
    for variable in WEIR_VARIABLES {
        command.env_remove(variable);
    }
    if let Some(token) = token {
        command.env("WEIR_TOKEN", token);
    }
    command
        .output()
        .map_err(|error| HarnessError::io(format!("cannot run {}", binary.display()), error))
}

/// A free TCP port on 127.0.0.1 (bound, read, released).
pub fn free_port() -> u16 {
    try_free_port().unwrap_or_else(|error| panic!("{error}"))
}

/// [`free_port`], or why there is none.
pub fn try_free_port() -> Result<u16, HarnessError> {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|listener| listener.local_addr())
        .map(|address| address.port())
        .map_err(|error| HarnessError::io("cannot find a free loopback port", error))
}

/// Two different free TCP ports on 127.0.0.1, both bound at once, read, released: two
/// [`free_port`] calls in a row can get the same port back (a process's gRPC and HTTP ports).
pub fn try_free_port_pair() -> Result<(u16, u16), HarnessError> {
    let bind = || {
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|listener| Ok((listener.local_addr()?.port(), listener)))
            .map_err(|error| HarnessError::io("cannot find a free loopback port", error))
    };
    let (first, _held) = bind()?;
    let (second, _also_held) = bind()?;
    Ok((first, second))
}

/// Text of a command's run, for failure messages.
pub fn describe(args: &[&str], output: &Output) -> String {
    format!(
        "`weir {}` exited with {}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        args.join(" "),
        output.status,
        String::from_utf8_lossy(&output.stdout).trim_end(),
        String::from_utf8_lossy(&output.stderr).trim_end(),
    )
}

/// Starts `binary ARGS` with stderr appended to `log_path`; stdout goes to the same log, or,
/// with `pipe_stdout`, to a pipe the caller takes from the child; with further environment
/// variables.
pub(super) fn spawn_process(
    binary: &Path,
    args: &[String],
    log_path: &Path,
    pipe_stdout: bool,
    env: &[(String, String)],
) -> Result<Child, HarnessError> {
    let mut log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(log_path)
        .map_err(|error| {
            HarnessError::io(format!("cannot open log {}", log_path.display()), error)
        })?;
    let _ = writeln!(log, "=== harness: weir {}", args.join(" "));
    let stdout = if pipe_stdout {
        Stdio::piped()
    } else {
        Stdio::from(
            log.try_clone()
                .map_err(|error| HarnessError::io("cannot clone the log file handle", error))?,
        )
    };
    let mut command = Command::new(binary);
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(stdout)
        .stderr(Stdio::from(log));
    // The test's own environment must not change the cluster under test.
    for variable in WEIR_VARIABLES {
        command.env_remove(variable);
    }
    if std::env::var_os("RUST_LOG").is_none() {
        command.env("RUST_LOG", "info");
    }
    command.envs(env.iter().map(|(name, value)| (name, value)));
    command
        .spawn()
        .map_err(|error| HarnessError::io(format!("cannot start `weir {}`", args.join(" ")), error))
}

pub(super) fn stop(child: &mut Option<Child>) {
    if let Some(mut child) = child.take() {
        // On Unix `Child::kill` is SIGKILL.
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Sends SIGTERM to `child` (with kill(1)) and waits until it exits, at most `within`; on success
/// the child is reaped and gone. `Err` says what went wrong; the child is then left running (its
/// handle kills it when dropped).
pub(super) fn terminate(child: &mut Option<Child>, within: Duration) -> Result<ExitStatus, String> {
    let process = child.as_mut().ok_or("the process is not running")?;
    let pid = process.id();
    let status = Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .map_err(|error| format!("cannot run `kill -TERM {pid}`: {error}"))?;
    if !status.success() {
        return Err(format!("`kill -TERM {pid}` exited with {status}"));
    }
    let sent = Instant::now();
    loop {
        match process.try_wait() {
            Ok(Some(status)) => {
                *child = None;
                return Ok(status);
            }
            Ok(None) if sent.elapsed() < within => std::thread::sleep(POLL_EVERY),
            Ok(None) => {
                return Err(format!(
                    "pid {pid} did not exit within {within:?} of SIGTERM"
                ));
            }
            Err(error) => return Err(format!("cannot wait for pid {pid}: {error}")),
        }
    }
}

/// The lines of the log at `path` that contain `needle` (none if it cannot be read yet).
pub fn log_lines_with(path: &Path, needle: &str) -> Vec<String> {
    std::fs::read(path)
        .map(|bytes| {
            String::from_utf8_lossy(&bytes)
                .lines()
                .filter(|line| line.contains(needle))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

pub(super) fn tail(path: &Path, lines: usize) -> String {
    match std::fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            let all: Vec<&str> = text.lines().collect();
            all[all.len().saturating_sub(lines)..].join("\n")
        }
        Err(error) => format!("(cannot read: {error})"),
    }
}
