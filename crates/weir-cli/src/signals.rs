//! Stop signals: Ctrl-C (SIGINT) and SIGTERM — how systemd and Kubernetes stop a process — are
//! handled alike by every long-running command. `weir master` and `weir worker` shut down in
//! order on the first one ([`StopSignals::shutdown`]); `weir local` and `weir demo` stop their
//! job with a final checkpoint (`crate::local::Interrupts`).

use std::fmt;

/// A signal asking the process to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopSignal {
    /// SIGINT, Ctrl-C in a terminal.
    Interrupt,
    /// SIGTERM.
    Terminate,
}

impl StopSignal {
    /// The exit code of a process killed by this signal (128 + its number), for a second signal
    /// that ends the process at once.
    fn exit_code(self) -> i32 {
        match self {
            StopSignal::Interrupt => 130,
            StopSignal::Terminate => 143,
        }
    }
}

impl fmt::Display for StopSignal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            StopSignal::Interrupt => "Ctrl-C",
            StopSignal::Terminate => "SIGTERM",
        })
    }
}

/// Stop signals as they arrive, from when [`StopSignals::listen`] was called. Listening replaces
/// the default "exit at once" for both signals, so whoever listens must act on them.
pub struct StopSignals {
    #[cfg(unix)]
    interrupt: Option<tokio::signal::unix::Signal>,
    #[cfg(unix)]
    terminate: Option<tokio::signal::unix::Signal>,
}

impl StopSignals {
    /// Starts listening (inside a Tokio runtime). A signal whose handler cannot be installed
    /// keeps its default action: it still stops the process, only not in order.
    pub fn listen() -> Self {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            let listen = |kind: SignalKind, name: &str| match signal(kind) {
                Ok(signal) => Some(signal),
                Err(error) => {
                    tracing::warn!(%error, "cannot watch {name}; it will stop the process at once");
                    None
                }
            };
            Self {
                interrupt: listen(SignalKind::interrupt(), "SIGINT"),
                terminate: listen(SignalKind::terminate(), "SIGTERM"),
            }
        }
        #[cfg(not(unix))]
        {
            Self {}
        }
    }

    /// Completes at the next stop signal (never, when none can be watched). Cancel-safe.
    pub async fn next(&mut self) -> StopSignal {
        #[cfg(unix)]
        {
            async fn received(signal: &mut Option<tokio::signal::unix::Signal>) {
                let delivered = match signal {
                    Some(signal) => signal.recv().await.is_some(),
                    None => false,
                };
                if !delivered {
                    std::future::pending::<()>().await;
                }
            }
            tokio::select! {
                () = received(&mut self.interrupt) => StopSignal::Interrupt,
                () = received(&mut self.terminate) => StopSignal::Terminate,
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            StopSignal::Interrupt
        }
    }

    /// The shutdown future of `weir master` and `weir worker`: completes at the first stop
    /// signal, logging `shutting down (SIGTERM)` (or `(Ctrl-C)`); a second signal ends the
    /// process at once, as if unhandled.
    pub async fn shutdown(mut self) {
        let signal = self.next().await;
        tracing::info!("shutting down ({signal})");
        // Detached on purpose: it must outlive the orderly shutdown it can cut short.
        tokio::spawn(async move {
            let again = self.next().await;
            tracing::warn!("{again} during shutdown: exiting at once");
            std::process::exit(again.exit_code());
        });
    }
}
