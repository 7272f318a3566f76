//! A TCP proxy in the test process, to cut one path of a cluster's network without touching
//! the processes: a worker started with `--master <proxy url>` reaches the master only through
//! it, while it still reaches Kafka, HDFS — and the master still reaches it — directly.
//!
//! [`Proxy::blackhole`] stops forwarding in both directions on every connection, new ones
//! included, without closing any: what a network partition that drops packets looks like to the
//! two ends (no FIN, no RST; only silence, until a timeout or a keepalive tells). [`Proxy::heal`]
//! then closes the blackholed connections and forwards new ones again, as a network that comes
//! back with its connection state lost.
//!
//! The proxy runs on a Tokio runtime of its own, so the blocking test harness can use it.

use std::net::{Ipv4Addr, SocketAddr};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

/// What the proxy does with bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Forward,
    Blackhole,
}

/// A TCP proxy on a loopback port, forwarding to one target.
pub struct Proxy {
    address: SocketAddr,
    mode: watch::Sender<Mode>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Proxy {
    /// Listens on a free loopback port and forwards every connection to `target`.
    pub fn start(target: SocketAddr) -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("a tokio runtime for the test proxy");
        let listener = runtime
            .block_on(TcpListener::bind((Ipv4Addr::LOCALHOST, 0)))
            .expect("the test proxy binds a loopback port");
        let address = listener.local_addr().expect("the test proxy's address");
        let (mode, watching) = watch::channel(Mode::Forward);
        runtime.spawn(accept(listener, target, watching));
        Proxy {
            address,
            mode,
            runtime: Some(runtime),
        }
    }

    /// `http://127.0.0.1:PORT`, for `--master`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Stops forwarding, in both directions, on every connection (open or new), without closing
    /// any.
    pub fn blackhole(&self) {
        self.mode.send_replace(Mode::Blackhole);
    }

    /// Closes every blackholed connection and forwards new ones again.
    pub fn heal(&self) {
        self.mode.send_replace(Mode::Forward);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

async fn accept(listener: TcpListener, target: SocketAddr, mode: watch::Receiver<Mode>) {
    while let Ok((inbound, _)) = listener.accept().await {
        tokio::spawn(connection(inbound, target, mode.clone()));
    }
}

/// One client connection: forwarded to a new connection to `target` while the mode is Forward.
async fn connection(inbound: TcpStream, target: SocketAddr, mut mode: watch::Receiver<Mode>) {
    if *mode.borrow_and_update() == Mode::Blackhole {
        // Accepted, never answered; closed when the network heals.
        let _ = mode.wait_for(|mode| *mode == Mode::Forward).await;
        return;
    }
    let Ok(outbound) = TcpStream::connect(target).await else {
        return;
    };
    let (from_client, to_client) = inbound.into_split();
    let (from_target, to_target) = outbound.into_split();
    tokio::join!(
        pump(from_client, to_target, mode.clone()),
        pump(from_target, to_client, mode),
    );
}

/// Copies one direction until either end closes or the network is cut. Once cut, it reads
/// nothing more (the kernel buffers fill and the peers see silence), and it returns when the
/// network heals: the connection closes as its halves drop.
async fn pump(mut from: OwnedReadHalf, mut to: OwnedWriteHalf, mut mode: watch::Receiver<Mode>) {
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        if *mode.borrow_and_update() == Mode::Blackhole {
            let _ = mode.wait_for(|mode| *mode == Mode::Forward).await;
            return;
        }
        tokio::select! {
            changed = mode.changed() => {
                if changed.is_err() {
                    return;
                }
            }
            read = from.read(&mut buffer) => match read {
                Ok(0) | Err(_) => {
                    let _ = to.shutdown().await;
                    return;
                }
                Ok(count) => {
                    if to.write_all(&buffer[..count]).await.is_err() {
                        return;
                    }
                }
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{ErrorKind, Read, Write};
    use std::net::{TcpListener as StdListener, TcpStream as StdStream};
    use std::time::Duration;

    use super::*;

    /// An echo server on a loopback port, one thread per connection.
    fn echo_server() -> SocketAddr {
        let listener = StdListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let address = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                std::thread::spawn(move || {
                    let mut stream = stream;
                    let mut buffer = [0u8; 1024];
                    while let Ok(read) = stream.read(&mut buffer) {
                        if read == 0 || stream.write_all(&buffer[..read]).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        address
    }

    fn connect(proxy: &Proxy) -> StdStream {
        let stream = StdStream::connect(proxy.address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        stream
    }

    fn echoes(stream: &mut StdStream) -> std::io::Result<Vec<u8>> {
        stream.write_all(b"ping")?;
        let mut answer = [0u8; 4];
        stream.read_exact(&mut answer)?;
        Ok(answer.to_vec())
    }

    #[test]
    fn forwards_blackholes_without_closing_then_heals() {
        let proxy = Proxy::start(echo_server());
        let mut open = connect(&proxy);
        assert_eq!(echoes(&mut open).unwrap(), b"ping");

        proxy.blackhole();
        let silent = echoes(&mut open).unwrap_err();
        assert!(
            matches!(silent.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut),
            "a cut connection stays open and silent: {silent:?}"
        );
        let mut during = connect(&proxy);
        assert!(
            echoes(&mut during).is_err(),
            "new connections are not forwarded either"
        );

        proxy.heal();
        let mut closed = [0u8; 4];
        let after = open.read(&mut closed);
        assert!(
            matches!(after, Ok(0)) || after.is_err(),
            "a healed network closes the cut connections: {after:?}"
        );
        let mut fresh = connect(&proxy);
        assert_eq!(echoes(&mut fresh).unwrap(), b"ping");
    }
}
