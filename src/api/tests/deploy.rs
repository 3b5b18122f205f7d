//! `POST /api/workflows` and `GET /api/workflows` against a real engine on loopback:
//! all or none, file:line:col for a broken file, 409 for a changed version, unchanged
//! for the same content, the actor and reason in the journal, and the request's limits.

use serde_json::{Value, json};
use tokio::sync::watch;

use super::super::client::Client;
use super::super::server::router;
use super::{Fixture, TOKEN, raw};
use crate::engine::runtime::{self, EngineConfig, Running};
use crate::types::deploy::{DeployFile, DeployRequest, DeployStatus, MAX_DEPLOY_FILES};

fn flow(name: &str, version: u32, wait: &str) -> String {
    format!(
        "name: {name}\nversion: {version}\nsteps:\n  - id: w\n    kind: wait\n    duration: {wait}\n"
    )
}

/// An engine with `pay` v1 in its workflows dir, served on loopback.
async fn serve_real() -> (Fixture, Running, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let wf = dir.path().join("workflows");
    std::fs::create_dir(&wf).unwrap();
    std::fs::write(wf.join("pay.yaml"), flow("pay", 1, "1h")).unwrap();
    let config = EngineConfig::new(dir.path().join("data"), Some(wf));
    let running = runtime::start(config).await.expect("the engine starts");
    let (stop, stopping) = watch::channel(false);
    let app = router(running.handle.clone(), TOKEN.into(), stopping);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    let fixture = Fixture {
        url,
        seen: Default::default(),
        _stop: stop,
    };
    (fixture, running, dir)
}

async fn post(f: &Fixture, body: Value) -> (u16, Value) {
    let bytes = serde_json::to_vec(&body).unwrap();
    raw(
        f,
        reqwest::Method::POST,
        "/api/workflows",
        Some(TOKEN),
        Some(bytes),
    )
    .await
}

async fn listed(f: &Fixture) -> Value {
    let (status, list) = raw(f, reqwest::Method::GET, "/api/workflows", Some(TOKEN), None).await;
    assert_eq!(status, 200, "{list}");
    list
}

fn files(list: &[(&str, String)]) -> Value {
    let files: Vec<Value> = list
        .iter()
        .map(|(path, source)| json!({ "path": path, "source": source }))
        .collect();
    json!({ "files": files })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_loads_every_file_or_none_and_says_what_and_where() {
    let (f, running, _dir) = serve_real().await;
    let h = running.handle.clone();
    let c = Client::new(&f.url, TOKEN, "ann").unwrap();
    let running_item = h
        .command(
            &crate::types::identity::Who::root("ann"),
            None,
            crate::types::Command::Start {
                workflow: "pay".into(),
                version: None,
                input: json!({}),
                priority: 0,
                since: None,
            },
        )
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(
        listed(&f).await,
        json!([{ "name": "pay", "version": 1, "in_flight": 1 }])
    );

    // A broken file among good ones: every problem at file:line:col, nothing loaded.
    let broken = "name: ship\nversion: 1\nsteps:\n  - id: w\n    kind: teleport\n";
    let (status, body) = post(
        &f,
        files(&[
            ("good/pay.yaml", flow("pay", 2, "2h")),
            ("bad/ship.yaml", broken.to_string()),
        ]),
    )
    .await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("invalid")),
        "{body}"
    );
    let message = body["message"].as_str().unwrap();
    assert!(message.starts_with("bad/ship.yaml:5:11: "), "{message}");
    assert!(message.contains("teleport"), "{message}");
    assert_eq!(
        listed(&f).await.as_array().unwrap().len(),
        1,
        "nothing loaded"
    );

    // The good files alone: deployed as ann, with the reason, in the order given.
    let req = DeployRequest {
        files: vec![
            DeployFile {
                path: "good/pay.yaml".into(),
                source: flow("pay", 2, "2h"),
            },
            DeployFile {
                path: "good/pay-v1.yaml".into(),
                source: flow("pay", 1, "1h"),
            },
        ],
    };
    let d = c.deploy(&req, Some("INC-7 fix")).await.unwrap();
    let got: Vec<(&str, u32, DeployStatus)> = d
        .workflows
        .iter()
        .map(|w| (w.file.as_str(), w.version, w.status))
        .collect();
    assert_eq!(
        got,
        [
            ("good/pay.yaml", 2, DeployStatus::Deployed),
            ("good/pay-v1.yaml", 1, DeployStatus::Unchanged)
        ]
    );
    let records = h.audit(None, d.seq - 1, 10).await.unwrap();
    let rec = &records[0];
    assert_eq!(rec.seq, d.seq);
    assert_eq!(rec.event.name(), "workflow_loaded");
    assert_eq!(
        (
            rec.actor.as_str(),
            rec.reason.as_deref(),
            rec.event.detail()
        ),
        ("ann", Some("INC-7 fix"), "pay v2".to_string())
    );
    let new_item = h
        .command(
            &crate::types::identity::Who::root("ann"),
            None,
            crate::types::Command::Start {
                workflow: "pay".into(),
                version: None,
                input: json!({}),
                priority: 0,
                since: None,
            },
        )
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(
        h.item(running_item).await.unwrap().unwrap().summary.version,
        1
    );
    assert_eq!(h.item(new_item).await.unwrap().unwrap().summary.version, 2);
    assert_eq!(
        listed(&f).await,
        json!([
            { "name": "pay", "version": 1, "in_flight": 1 },
            { "name": "pay", "version": 2, "in_flight": 1 }
        ])
    );

    // Identical again: unchanged, nothing written.
    let head = h.metrics().await.unwrap().journal_seq;
    let again = c.deploy(&req, None).await.unwrap();
    assert!(
        again
            .workflows
            .iter()
            .all(|w| w.status == DeployStatus::Unchanged)
    );
    assert_eq!(again.seq, head);
    assert_eq!(h.metrics().await.unwrap().journal_seq, head);

    // v2 with other content: refused with 409, naming the file and the version.
    let (status, body) = post(&f, files(&[("edited/pay.yaml", flow("pay", 2, "9h"))])).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("conflict")),
        "{body}"
    );
    let message = body["message"].as_str().unwrap();
    assert!(
        message.starts_with(
            "edited/pay.yaml:2:1: workflow pay version 2 is already loaded with different content"
        ),
        "{message}"
    );
    assert_eq!(h.metrics().await.unwrap().journal_seq, head);
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_request_has_limits_and_a_bad_one_changes_nothing() {
    let (f, running, _dir) = serve_real().await;
    let h = running.handle.clone();
    let head = h.metrics().await.unwrap().journal_seq;
    let many: Vec<(String, String)> = (0..=MAX_DEPLOY_FILES)
        .map(|i| (format!("w{i}.yaml"), flow(&format!("w{i}"), 1, "1m")))
        .collect();
    let many: Vec<(&str, String)> = many.iter().map(|(p, s)| (p.as_str(), s.clone())).collect();
    let cases = [
        (files(&[]), 422, "nothing to deploy"),
        (files(&many), 422, "65 files in one deploy; at most 64"),
        (
            files(&[("a\nb.yaml", flow("a", 1, "1m"))]),
            422,
            "file 1: a path must be",
        ),
        (
            files(&[("", flow("a", 1, "1m"))]),
            422,
            "file 1: a path must be",
        ),
        (
            json!({ "files": [{ "path": "a.yaml" }] }),
            422,
            "missing field `source`",
        ),
        (
            json!({ "files": [], "dry_run": true }),
            422,
            "unknown field `dry_run`",
        ),
        (
            files(&[(
                "big.yaml",
                format!("{}\n{}", flow("big", 1, "1m"), "#".repeat(300_000)),
            )]),
            422,
            "big.yaml:1:1: ",
        ),
    ];
    for (body, want, says) in cases {
        let (status, answer) = post(&f, body).await;
        let message = answer["message"].as_str().unwrap_or_default();
        assert_eq!(status, want, "{says}: {answer}");
        assert!(message.contains(says), "{says}: {message}");
    }
    let too_big = files(&[("huge.yaml", "#".repeat(super::super::MAX_BODY_BYTES))]);
    let (status, answer) = post(&f, too_big).await;
    assert_eq!((status, answer["error"].as_str()), (413, Some("too_large")));
    assert_eq!(
        h.metrics().await.unwrap().journal_seq,
        head,
        "nothing written"
    );
    assert_eq!(listed(&f).await.as_array().unwrap().len(), 1);
    running.shutdown().await;
}
