//! A console that only ever receives the change feed converges to exactly what a fresh
//! attach shows, through random changes, dropped connections, resyncs and restarts of
//! the daemon.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use chrono::{TimeZone, Utc};
use proptest::prelude::*;
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

use crate::api::client::Client;
use crate::bench::watchers::{Proxy, serve_on};
use crate::console::model::{Model, Update};
use crate::console::source::Source;
use crate::console::sync::{self, Control};
use crate::engine::runtime::{self, EngineConfig, ManualClock, Running};
use crate::types::command::Command;
use crate::types::view::{ItemFilter, TaskFilter};

const TOKEN: &str = "converge-token";

const TASK: &str = r#"name: t
version: 1
sla: { due: 2h, warn: [50%] }
steps:
  - id: prep
    kind: pass
    output: { n: "{{ input.n }}" }
  - id: approve
    kind: human
    needs: [prep]
    title: "Approve {{ input.n }}"
    group: approvers
    due: 1h
    escalate: [{ after: 30m, to: leads }]
  - id: book
    kind: pass
    needs: [approve]
    output: { d: "{{ steps.approve.decision }}" }
"#;

const WAIT: &str = r#"name: w
version: 1
steps:
  - id: hold
    kind: wait
    duration: 20m
  - id: done
    kind: pass
    needs: [hold]
    output: { ok: true }
"#;

const PASS: &str = r#"name: p
version: 1
steps:
  - id: only
    kind: pass
    output: { ok: true }
"#;

#[derive(Debug, Clone)]
enum Op {
    Start(u8),
    Decide(usize, bool),
    Claim(usize),
    Cancel(usize),
    Advance(u16),
    Drop,
    Resync,
    Restart,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => any::<u8>().prop_map(Op::Start),
        3 => (any::<usize>(), any::<bool>()).prop_map(|(k, a)| Op::Decide(k, a)),
        1 => any::<usize>().prop_map(Op::Claim),
        1 => any::<usize>().prop_map(Op::Cancel),
        2 => (1u16..90).prop_map(Op::Advance),
        1 => Just(Op::Drop),
        1 => Just(Op::Resync),
        1 => Just(Op::Restart),
    ]
}

struct Daemon {
    run: Running,
    stop: watch::Sender<bool>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
}

async fn daemon(dir: &Path, clock: Arc<ManualClock>, addr: SocketAddr) -> Daemon {
    let mut config = EngineConfig::new(dir.join("data"), Some(dir.join("workflows")));
    config.clock = clock;
    config.seed = Some(7);
    config.feed_flush = Duration::from_millis(10);
    let run = runtime::start(config).await.expect("the engine starts");
    // The old daemon's port may take a moment to be free again.
    let mut tries = 0;
    let listener = loop {
        match TcpListener::bind(addr).await {
            Ok(l) => break l,
            Err(e) if tries < 50 => {
                tries += 1;
                let _ = e;
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            Err(e) => panic!("cannot bind {addr}: {e}"),
        }
    };
    let (stop, stopping) = watch::channel(false);
    let server = serve_on(listener, &run, TOKEN, stopping);
    Daemon { run, stop, server }
}

impl Daemon {
    async fn shutdown(self) {
        let _ = self.stop.send(true);
        let _ = tokio::time::timeout(Duration::from_secs(5), self.server).await;
        self.run.shutdown().await;
    }
}

/// Apply one operation; refusals (a task decided twice, an ended item) are fine.
async fn act(d: &Daemon, clock: &ManualClock, op: &Op, n: &mut u64) {
    let h = &d.run.handle;
    let open = || async { h.tasks(TaskFilter::default()).await.unwrap_or_default() };
    let cmd = match op {
        Op::Start(w) => {
            *n += 1;
            Command::Start {
                workflow: ["t", "t", "w", "p"][*w as usize % 4].into(),
                version: None,
                input: serde_json::json!({ "n": *n }),
                priority: (*w % 3) as i32,
                since: None,
            }
        }
        Op::Decide(k, yes) => {
            let tasks = open().await;
            let Some(t) = tasks.get(k % tasks.len().max(1)) else {
                return;
            };
            Command::Decide {
                task: t.id,
                decision: if *yes { "approved" } else { "rejected" }.into(),
                comment: None,
                fields: None,
            }
        }
        Op::Claim(k) => {
            let tasks = open().await;
            let Some(t) = tasks.get(k % tasks.len().max(1)) else {
                return;
            };
            Command::Claim { task: t.id }
        }
        Op::Cancel(k) => {
            let active = ItemFilter {
                active: true,
                ..Default::default()
            };
            let items = h.items(active).await.unwrap_or_default();
            let Some(i) = items.get(k % items.len().max(1)) else {
                return;
            };
            Command::Cancel { item: i.id }
        }
        Op::Advance(m) => {
            clock.advance(chrono::Duration::minutes(i64::from(*m)));
            return;
        }
        Op::Drop | Op::Resync | Op::Restart => return,
    };
    let _ = h
        .command(&crate::types::identity::Who::root("tester"), None, cmd)
        .await;
}

fn drain(rx: &mut mpsc::UnboundedReceiver<Update>, model: &mut Model) {
    while let Ok(u) = rx.try_recv() {
        model.apply(u, Utc::now());
    }
}

async fn converges(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let tmp = tempfile::tempdir().expect("a temp dir");
    let wf = tmp.path().join("workflows");
    std::fs::create_dir_all(&wf).expect("workflows dir");
    for (name, text) in [("t.yaml", TASK), ("w.yaml", WAIT), ("p.yaml", PASS)] {
        std::fs::write(wf.join(name), text).expect("a workflow");
    }
    let clock = Arc::new(ManualClock::new(
        Utc.with_ymd_and_hms(2026, 3, 2, 9, 0, 0).unwrap(),
    ));
    let addr = TcpListener::bind("127.0.0.1:0")
        .await
        .and_then(|l| l.local_addr())
        .expect("a free port");
    let mut d = daemon(tmp.path(), clock.clone(), addr).await;
    let proxy = Proxy::start(addr).await.expect("the proxy");
    let client = Client::new(&proxy.url, TOKEN, "watcher").expect("a client");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let console = sync::spawn(Source::Remote(client), tx);
    let mut model = Model::default();
    let mut n = 0;
    for op in &ops {
        match op {
            Op::Drop => proxy.cut(),
            Op::Resync => {
                let _ = console.control.send(Control::Refresh);
            }
            Op::Restart => {
                d.shutdown().await;
                d = daemon(tmp.path(), clock.clone(), addr).await;
            }
            _ => act(&d, &clock, op, &mut n).await,
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
        drain(&mut rx, &mut model);
    }
    // Once the engine is quiet, the mirror must equal a fresh attach, exactly.
    let direct = Source::Remote(Client::new(&format!("http://{addr}"), TOKEN, "fresh").unwrap());
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        drain(&mut rx, &mut model);
        let (tx, mut fresh_rx) = mpsc::unbounded_channel();
        let Ok((seq, _)) = sync::snapshot(&direct, &tx).await else {
            continue;
        };
        let mut fresh = Model::default();
        drain(&mut fresh_rx, &mut fresh);
        let caught_up = model.metrics.journal_seq == seq;
        if caught_up && model.items == fresh.items && model.tasks == fresh.tasks {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            let diff: Vec<_> = fresh
                .items
                .iter()
                .filter(|(id, i)| model.items.get(id) != Some(i))
                .map(|(id, _)| *id)
                .collect();
            let extra: Vec<_> = model
                .items
                .keys()
                .filter(|id| !fresh.items.contains_key(id))
                .collect();
            d.shutdown().await;
            return Err(TestCaseError::fail(format!(
                "no convergence after {ops:?}: mirror at seq {} vs {seq}; items differing {diff:?}, only in the mirror {extra:?}; tasks {} vs {}",
                model.metrics.journal_seq,
                model.tasks.len(),
                fresh.tasks.len()
            )));
        }
    }
    drop(console);
    d.shutdown().await;
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 12, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn a_console_on_the_change_feed_converges_to_a_fresh_attach(ops in proptest::collection::vec(op(), 8..40)) {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        rt.block_on(converges(ops))?;
    }
}
