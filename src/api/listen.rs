//! The daemon's accept loop: at most a bounded number of connections at once, and a
//! connection that does not finish a request's headers in time is closed, so clients
//! that connect and never finish (slowloris) cannot take the file descriptors the
//! engine needs for its journal, snapshots and step processes. Every request carries
//! its connection's [`Peer`]: TCP, or the local user the Unix socket's credentials name.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::{TowerToHyperService, TowerToHyperServiceFuture};
use tokio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use tokio::sync::{Semaphore, watch};

use super::peer::{self, Peer, UnknownPeer};

/// How long a connection may take to send a request's headers (also how long an idle
/// kept-alive connection stays open between requests).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// Pause after a failed accept (e.g. out of file descriptors) before the next one.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// Most connections served at once: half the process's file descriptor limit (the other
/// half stays for the engine), at least 16 and at most 8192. Further clients wait in
/// the listen backlog.
pub fn max_connections() -> usize {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given.
    let soft = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
        limit.rlim_cur
    } else {
        1024
    };
    usize::try_from(soft / 2).unwrap_or(8192).clamp(16, 8192)
}

/// How many connections at once, and how long one may take over its headers.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub connections: usize,
    pub header_read: Duration,
}

impl Limits {
    /// The daemon's: `max_connections()` and `HEADER_READ_TIMEOUT`.
    pub fn daemon() -> Limits {
        Limits {
            connections: max_connections(),
            header_read: HEADER_READ_TIMEOUT,
        }
    }
}

/// What the daemon listens on: TCP always, and the Unix socket when it has one.
pub struct Listeners {
    pub tcp: TcpListener,
    pub unix: Option<UnixListener>,
}

impl Listeners {
    pub fn tcp(tcp: TcpListener) -> Listeners {
        Listeners { tcp, unix: None }
    }
}

/// One accepted connection, before it is served.
enum Accepted {
    Tcp(TcpStream),
    Unix(UnixStream),
}

async fn accept(listeners: &Listeners) -> io::Result<Accepted> {
    let unix = async {
        match &listeners.unix {
            Some(u) => u.accept().await.map(|(s, _)| s),
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        tcp = listeners.tcp.accept() => tcp.map(|(s, _)| Accepted::Tcp(s)),
        unix = unix => unix.map(Accepted::Unix),
    }
}

/// Serve `app` on the listeners until `stopping` turns true, then let the open
/// connections finish (the caller bounds how long). TCP and the socket share one
/// connection limit: it is there to keep file descriptors for the engine.
pub async fn serve(
    listeners: Listeners,
    app: Router,
    limits: Limits,
    mut stopping: watch::Receiver<bool>,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.connections));
    let graceful = GracefulShutdown::new();
    let daemon_uid = crate::store::private::euid();
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot,
            _ = stopping.wait_for(|s| *s) => break,
        };
        let Ok(slot) = slot else { break };
        let accepted = tokio::select! {
            accepted = accept(&listeners) => accepted,
            _ = stopping.wait_for(|s| *s) => break,
        };
        let watcher = graceful.watcher();
        let app = app.clone();
        match accepted {
            Ok(Accepted::Tcp(stream)) => {
                let _ = stream.set_nodelay(true);
                tokio::spawn(async move {
                    let service = ForPeer::new(app, Peer::Tcp);
                    let _ = watcher.watch(connection(stream, service, limits)).await;
                    drop(slot);
                });
            }
            Ok(Accepted::Unix(stream)) => {
                // The name lookup may ask a directory service: off the accept loop.
                tokio::spawn(async move {
                    let service = match unix_peer(&stream, daemon_uid).await {
                        Ok(peer) => ForPeer::new(app, peer),
                        // The refusal reads no peer; Tcp is only a placeholder.
                        Err(why) => ForPeer::new(refusal(why), Peer::Tcp),
                    };
                    let _ = watcher.watch(connection(stream, service, limits)).await;
                    drop(slot);
                });
            }
            Err(e) => {
                tracing::warn!("cannot accept a connection: {e}");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
    graceful.shutdown().await;
    Ok(())
}

/// HTTP/1 on one connection, with the header read timeout.
fn connection<IO>(
    io: IO,
    service: ForPeer,
    limits: Limits,
) -> hyper::server::conn::http1::Connection<TokioIo<IO>, ForPeer>
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read)
        .serve_connection(TokioIo::new(io), service)
}

/// Who connected on the socket, by the kernel's credentials and the user database.
async fn unix_peer(stream: &UnixStream, daemon_uid: u32) -> Result<Peer, UnknownPeer> {
    let uid = stream
        .peer_cred()
        .map_err(|e| UnknownPeer::NoCredentials(e.to_string()))?
        .uid();
    tokio::task::spawn_blocking(move || peer::local(uid, daemon_uid))
        .await
        .unwrap_or_else(|e| {
            Err(UnknownPeer::Lookup {
                uid,
                reason: e.to_string(),
            })
        })
}

/// What a socket connection from a user with no name gets: 403 and why, to every
/// request, so the client prints the reason instead of a reset connection.
fn refusal(why: UnknownPeer) -> Router {
    let body = super::ErrorBody {
        error: "forbidden".into(),
        message: why.to_string(),
    };
    Router::new().fallback(move || {
        let body = body.clone();
        async move { (axum::http::StatusCode::FORBIDDEN, axum::Json(body)) }
    })
}

/// The router, with the connection's peer put into every request's extensions.
#[derive(Clone)]
struct ForPeer {
    inner: TowerToHyperService<Router>,
    peer: Peer,
}

impl ForPeer {
    fn new(app: Router, peer: Peer) -> ForPeer {
        ForPeer {
            inner: TowerToHyperService::new(app),
            peer,
        }
    }
}

impl hyper::service::Service<Request<Incoming>> for ForPeer {
    type Response =
        <TowerToHyperService<Router> as hyper::service::Service<Request<Incoming>>>::Response;
    type Error = <TowerToHyperService<Router> as hyper::service::Service<Request<Incoming>>>::Error;
    type Future = TowerToHyperServiceFuture<Router, Request<Incoming>>;

    fn call(&self, mut req: Request<Incoming>) -> Self::Future {
        req.extensions_mut().insert(self.peer.clone());
        hyper::service::Service::call(&self.inner, req)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const HEADER_READ: Duration = Duration::from_millis(500);

    async fn started(connections: usize) -> (std::net::SocketAddr, watch::Sender<bool>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopping) = watch::channel(false);
        let limits = Limits {
            connections,
            header_read: HEADER_READ,
        };
        tokio::spawn(serve(Listeners::tcp(listener), app(), limits, stopping));
        (addr, stop)
    }

    fn app() -> Router {
        let peer =
            |axum::Extension(peer): axum::Extension<Peer>| async move { format!("{peer:?}") };
        Router::new()
            .route("/", axum::routing::get(|| async { "ok" }))
            .route("/peer", axum::routing::get(peer))
    }

    struct Both {
        addr: std::net::SocketAddr,
        socket: std::path::PathBuf,
        stop: watch::Sender<bool>,
        served: tokio::task::JoinHandle<io::Result<()>>,
        _dir: tempfile::TempDir,
    }

    async fn started_both(connections: usize) -> Both {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("s");
        let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = tcp.local_addr().unwrap();
        let unix = Some(UnixListener::bind(&socket).unwrap());
        let (stop, stopping) = watch::channel(false);
        let limits = Limits {
            connections,
            header_read: HEADER_READ,
        };
        let served = tokio::spawn(serve(Listeners { tcp, unix }, app(), limits, stopping));
        Both {
            addr,
            socket,
            stop,
            served,
            _dir: dir,
        }
    }

    async fn unix_get(socket: &std::path::Path, path: &str) -> String {
        let mut s = UnixStream::connect(socket).await.unwrap();
        let req = format!("GET {path} HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n");
        s.write_all(req.as_bytes()).await.unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out).await;
        out
    }

    #[tokio::test]
    async fn every_request_carries_its_connections_peer() {
        let b = started_both(4).await;
        let me = crate::store::private::euid();
        let name = peer::user_name(me).unwrap();
        let local = unix_get(&b.socket, "/peer").await;
        assert!(local.starts_with("HTTP/1.1 200"), "{local}");
        let expected = format!("Local {{ uid: {me}, user: {name:?}, daemon_user: true }}");
        assert!(local.ends_with(&expected), "{local}");
        let mut tcp = TcpStream::connect(b.addr).await.unwrap();
        tcp.write_all(b"GET /peer HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut out = String::new();
        let _ = tcp.read_to_string(&mut out).await;
        assert!(out.ends_with("\r\n\r\nTcp"), "{out}");
    }

    #[tokio::test]
    async fn the_socket_has_the_header_timeout_and_shares_the_connection_limit() {
        let b = started_both(2).await;
        let mut held = Vec::new();
        for _ in 0..2 {
            let mut s = UnixStream::connect(&b.socket).await.unwrap();
            s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n").await.unwrap();
            held.push(s);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        // Two half-open socket connections hold both slots: TCP waits...
        let third = tokio::spawn(get(b.addr));
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(
            !third.is_finished(),
            "a connection past the limit was served"
        );
        // ...until the header timeout closes them, without anyone letting go.
        let answer = tokio::time::timeout(HEADER_READ * 10, third)
            .await
            .expect("the half-open socket connections were never closed")
            .unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }

    #[tokio::test]
    async fn stopping_ends_both_listeners() {
        let b = started_both(4).await;
        assert!(unix_get(&b.socket, "/").await.starts_with("HTTP/1.1 200"));
        b.stop.send(true).unwrap();
        let ended = tokio::time::timeout(Duration::from_secs(5), b.served).await;
        assert!(matches!(ended, Ok(Ok(Ok(())))), "{ended:?}");
    }

    #[tokio::test]
    async fn a_user_with_no_name_is_told_why_on_every_request() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let app = refusal(UnknownPeer::NoEntry(4242));
        tokio::spawn(async move { axum::serve(listener, app).await });
        let answer = get(addr).await;
        assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
        assert!(answer.contains(r#""error":"forbidden""#), "{answer}");
        assert!(answer.contains("uid 4242 has no entry"), "{answer}");
    }

    async fn get(addr: std::net::SocketAddr) -> String {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut out = String::new();
        let _ = s.read_to_string(&mut out).await;
        out
    }

    #[tokio::test]
    async fn slowloris_connections_are_closed_after_the_header_read_timeout() {
        let (addr, _stop) = started(4).await;
        let mut slow = tokio::net::TcpStream::connect(addr).await.unwrap();
        slow.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n")
            .await
            .unwrap();
        let mut buf = [0u8; 256];
        let read = tokio::time::timeout(HEADER_READ * 10, slow.read(&mut buf)).await;
        // Closed (end of file, or a 408 then end of file), not held open forever.
        let n = read.expect("a connection that never finished its headers stayed open");
        assert!(n.is_ok(), "{n:?}");
        // A kept-alive connection that sends nothing at all is closed the same way.
        let mut idle = tokio::net::TcpStream::connect(addr).await.unwrap();
        let read = tokio::time::timeout(HEADER_READ * 10, idle.read(&mut buf)).await;
        assert!(read.is_ok(), "an idle connection stayed open");
    }

    #[tokio::test]
    async fn connections_past_the_limit_wait_and_leave_the_daemon_its_descriptors() {
        let (addr, _stop) = started(2).await;
        let mut held = Vec::new();
        for _ in 0..2 {
            let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
            s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n").await.unwrap();
            held.push(s);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        // A third client is not served while two half-open connections hold the slots...
        let third = tokio::spawn(get(addr));
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(
            !third.is_finished(),
            "a connection past the limit was served"
        );
        // ...and is once one of them goes away.
        drop(held.pop());
        let answer = tokio::time::timeout(Duration::from_secs(5), third)
            .await
            .unwrap()
            .unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    }

    #[test]
    fn the_limit_is_half_the_descriptor_limit_within_bounds() {
        let n = max_connections();
        assert!((16..=8192).contains(&n), "{n}");
    }
}
