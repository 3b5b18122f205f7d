//! The daemon's accept loop: at most a bounded number of connections at once, and a
//! connection that does not finish a request's headers in time is closed, so clients
//! that connect and never finish (slowloris) cannot take the file descriptors the
//! engine needs for its journal, snapshots and step processes.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};

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

/// Serve `app` on `listener` until `stopping` turns true, then let the open
/// connections finish (the caller bounds how long).
pub async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Limits,
    mut stopping: watch::Receiver<bool>,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.connections));
    let graceful = GracefulShutdown::new();
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot,
            _ = stopping.wait_for(|s| *s) => break,
        };
        let Ok(slot) = slot else { break };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = stopping.wait_for(|s| *s) => break,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                tracing::warn!("cannot accept a connection: {e}");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let service = TowerToHyperService::new(app.clone());
        let conn = hyper::server::conn::http1::Builder::new()
            .timer(TokioTimer::new())
            .header_read_timeout(limits.header_read)
            .serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            let _ = conn.await;
            drop(slot);
        });
    }
    graceful.shutdown().await;
    Ok(())
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
        tokio::spawn(serve(listener, app(), limits, stopping));
        (addr, stop)
    }

    fn app() -> Router {
        Router::new().route("/", axum::routing::get(|| async { "ok" }))
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
