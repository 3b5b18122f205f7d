//! The API over the Unix socket against the fake engine: no token, the login as the
//! actor, the daemon's own user trusted to name another, any other user held to their
//! own name, and TCP still behind the token.

use axum::Extension;
use tokio::sync::watch;

use super::super::client::{Client, ClientError};
use super::super::listen::{self, Limits, Listeners};
use super::super::peer::{self, Peer};
use super::super::server::router;
use super::super::socket::{self, SocketSpec};
use super::super::{EventsQuery, StartRequest};
use super::{Fixture, Seen, TOKEN, fake_engine, raw};
use crate::types::identity::{Directory, Operator, Role};
use crate::types::view::ItemFilter;

fn start_wf() -> StartRequest {
    StartRequest {
        workflow: "wf".into(),
        version: None,
        input: serde_json::json!({}),
        priority: 0,
    }
}

/// The fake engine on TCP and a socket, as the daemon serves them.
struct Served {
    tcp: Fixture,
    socket: std::path::PathBuf,
    _file: socket::SocketFile,
    _dir: tempfile::TempDir,
}

async fn serve_both() -> Served {
    let (handle, seen) = fake_engine();
    let (stop, stopping) = watch::channel(false);
    let app = router(handle, TOKEN.into(), stopping.clone());
    let dir = tempfile::tempdir().unwrap();
    let spec = SocketSpec {
        path: dir.path().join(socket::SOCKET_FILE),
        group: None,
    };
    let bound = socket::bind(&spec).await.unwrap();
    let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", tcp.local_addr().unwrap());
    let listeners = Listeners {
        tcp,
        unix: Some(bound.listener),
    };
    tokio::spawn(listen::serve(listeners, app, Limits::daemon(), stopping));
    Served {
        tcp: Fixture {
            url,
            seen,
            _stop: stop,
        },
        socket: spec.path,
        _file: bound.file,
        _dir: dir,
    }
}

fn actors(seen: &Seen) -> Vec<String> {
    seen.lock().unwrap().iter().map(|s| s.0.clone()).collect()
}

#[tokio::test]
async fn the_daemons_user_needs_no_token_on_the_socket_and_acts_as_their_login() {
    let s = serve_both().await;
    let login = peer::user_name(crate::store::private::euid()).unwrap();
    let c = Client::unix(&s.socket, "").unwrap();
    assert!(c.is_socket());
    assert_eq!(c.url(), s.socket.display().to_string());
    c.start(&start_wf(), None).await.unwrap();
    assert!(c.items(&ItemFilter::default()).await.unwrap().is_empty());
    // Trusted for now as the token's holder is: it may name whom it acts for.
    let as_ann = Client::unix(&s.socket, "ann").unwrap();
    as_ann.start(&start_wf(), None).await.unwrap();
    assert_eq!(actors(&s.tcp.seen), [login, "ann".to_string()]);
    // The event stream opens over the socket too.
    assert!(c.events(&EventsQuery::default()).await.is_ok());
}

#[tokio::test]
async fn tcp_beside_the_socket_still_needs_the_token() {
    let s = serve_both().await;
    let (status, body) = raw(&s.tcp, reqwest::Method::GET, "/api/items", None, None).await;
    assert_eq!(status, 401, "{body}");
    let c = Client::new(&s.tcp.url, "wrong", "ann").unwrap();
    let e = c.start(&start_wf(), None).await.unwrap_err();
    assert!(matches!(e, ClientError::Unauthorized { .. }), "{e}");
    assert!(s.tcp.seen.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_socket_no_one_listens_on_is_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let c = Client::unix(&dir.path().join("none.sock"), "").unwrap();
    let e = c.items(&ItemFilter::default()).await.unwrap_err();
    assert!(e.is_unreachable(), "{e}");
    assert!(e.to_string().contains("none.sock"), "{e}");
}

/// The router as a connection from another local user sees it.
async fn serve_as(peer: Peer) -> Fixture {
    serve_with(peer, Directory::default()).await
}

/// The same, with these operators registered.
async fn serve_with(peer: Peer, dir: Directory) -> Fixture {
    let (mut handle, seen) = fake_engine();
    handle.directory = watch::channel(std::sync::Arc::new(dir)).1;
    let (stop, stopping) = watch::channel(false);
    let app = router(handle, TOKEN.into(), stopping).layer(Extension(peer));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    Fixture {
        url,
        seen,
        _stop: stop,
    }
}

/// Start `wf` with no token, naming `actor` (or no one); the status and the message.
async fn start_as(f: &Fixture, actor: Option<&str>) -> (u16, String) {
    let mut rb = reqwest::Client::new()
        .post(format!("{}/api/items", f.url))
        .json(&start_wf());
    if let Some(a) = actor {
        rb = rb.header(super::super::ACTOR_HEADER, a);
    }
    let resp = rb.send().await.unwrap();
    let status = resp.status().as_u16();
    let body: serde_json::Value = resp.json().await.unwrap();
    (
        status,
        body["message"].as_str().unwrap_or_default().to_string(),
    )
}

#[tokio::test]
async fn another_local_user_acts_as_the_operator_of_their_login_and_only_that() {
    let bob = || Peer::Local {
        uid: 1001,
        user: "bob".into(),
        daemon_user: false,
    };
    let f = serve_as(bob()).await;
    let (status, message) = start_as(&f, None).await;
    assert_eq!(status, 403, "{message}");
    assert!(
        message.contains("local user bob is not a registered operator")
            && message.contains("tempi operator add bob"),
        "{message}"
    );
    let mut dir = Directory::default();
    dir.put(Operator {
        name: "bob".into(),
        role: Role::Operator,
        groups: Vec::new(),
        token: String::new(),
        added: chrono::DateTime::<chrono::Utc>::UNIX_EPOCH,
        revoked: None,
    });
    let f = serve_with(bob(), dir).await;
    assert_eq!(start_as(&f, None).await.0, 201);
    assert_eq!(start_as(&f, Some("bob")).await.0, 201);
    let (status, message) = start_as(&f, Some("alice")).await;
    assert_eq!(status, 403, "{message}");
    assert!(
        message.contains("you are bob; acting as alice (x-tempi-actor) needs an admin"),
        "{message}"
    );
    assert_eq!(actors(&f.seen), ["bob", "bob"]);
}

#[tokio::test]
async fn the_daemons_own_user_may_name_another_actor() {
    let f = serve_as(Peer::Local {
        uid: 1001,
        user: "bob".into(),
        daemon_user: true,
    })
    .await;
    assert_eq!(start_as(&f, None).await.0, 201);
    assert_eq!(start_as(&f, Some("alice")).await.0, 201);
    assert_eq!(actors(&f.seen), ["bob", "alice"]);
}

#[tokio::test]
async fn a_tcp_peer_without_a_token_is_refused_on_the_same_router() {
    let f = serve_as(Peer::Tcp).await;
    let (status, _) = start_as(&f, Some("bob")).await;
    assert_eq!(status, 401);
    assert!(f.seen.lock().unwrap().is_empty());
}
