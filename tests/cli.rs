//! The real `tempi` binary: usage errors, `validate`, and every way of not reaching a
//! daemon (none, stale daemon.json, refused port, wrong token, server errors).

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};

mod common;

fn tempi(data: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tempi"))
        .arg("--data")
        .arg(data)
        .args(args)
        .env_remove("TEMPI_URL")
        .env_remove("TEMPI_TOKEN")
        .env_remove("TEMPI_WORKFLOWS")
        .env("TEMPI_USER", "tester")
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn no_daemon_message(dir: &Path) -> String {
    let d = dir.display();
    format!("no tempi daemon is running for {d}; start one with: tempi serve --data {d}")
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &[][..],
        &["frobnicate"],
        &["start"],
        &["items", "--status", "sleeping"],
        &["approve", "not-a-number"],
        &["serve", "--listen", "nowhere"],
    ] {
        let o = tempi(dir.path(), args);
        assert_eq!(o.status.code(), Some(2), "{args:?}: {}", stderr(&o));
    }
    let help = tempi(dir.path(), &["--help"]);
    assert_eq!(help.status.code(), Some(0));
}

#[test]
fn verbs_without_a_daemon_say_how_to_start_one() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["items"][..],
        &["tasks", "--mine"],
        &["approve", "3"],
        &["start", "wf", "--input", "{}"],
        &["audit", "--follow"],
    ] {
        let o = tempi(dir.path(), args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert!(
            stderr(&o).contains(&no_daemon_message(dir.path())),
            "{args:?}: {}",
            stderr(&o)
        );
    }
}

#[test]
fn a_stale_daemon_file_means_no_daemon() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    let info = format!(r#"{{"url":"http://127.0.0.1:9","pid":{dead}}}"#);
    std::fs::write(dir.path().join("daemon.json"), info).unwrap();
    let o = tempi(dir.path(), &["items"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(&no_daemon_message(dir.path())),
        "{}",
        stderr(&o)
    );

    // A live pid whose port refuses connections: also not running (for this data dir).
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let info = format!(
        r#"{{"url":"http://127.0.0.1:{port}","pid":{}}}"#,
        std::process::id()
    );
    std::fs::write(dir.path().join("daemon.json"), info).unwrap();
    let o = tempi(dir.path(), &["tasks"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(&no_daemon_message(dir.path())),
        "{}",
        stderr(&o)
    );
}

#[test]
fn bad_input_json_is_a_user_error_with_its_position() {
    let dir = tempfile::tempdir().unwrap();
    let o = tempi(dir.path(), &["start", "wf", "--input", "{\"a\": }"]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("--input: expected JSON: "), "{err}");
    assert!(err.contains("line 1 column 7"), "{err}");
    let o = tempi(dir.path(), &["signal", "1", "go", "@/nonexistent/x.json"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("signal data: cannot read /nonexistent/x.json"),
        "{}",
        stderr(&o)
    );
}

/// A one-shot HTTP server answering every request with `status` and `body`.
fn fake_daemon(status: &'static str, body: &'static str) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in listener.incoming().take(4) {
            let mut conn = conn.unwrap();
            let mut buf = [0u8; 65536];
            let _ = conn.read(&mut buf);
            let reply = format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = conn.write_all(reply.as_bytes());
        }
    });
    url
}

fn tempi_remote(url: &str, args: &[&str]) -> Output {
    let dir = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_tempi"))
        .arg("--data")
        .arg(dir.path())
        .args(args)
        .env("TEMPI_URL", url)
        .env("TEMPI_TOKEN", "t0ken")
        .output()
        .unwrap()
}

#[test]
fn server_errors_are_shown_with_the_servers_message() {
    let url = fake_daemon(
        "404 Not Found",
        r#"{"error":"not_found","message":"task 42 not found"}"#,
    );
    let o = tempi_remote(&url, &["approve", "42"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(stderr(&o).trim(), "error: task 42 not found");
}

#[test]
fn a_refused_token_says_what_to_check() {
    let url = fake_daemon(
        "401 Unauthorized",
        r#"{"error":"unauthorized","message":"wrong bearer token"}"#,
    );
    let o = tempi_remote(&url, &["items"]);
    assert_eq!(o.status.code(), Some(1));
    let expected = format!("the daemon at {url} refused the token; check --data or TEMPI_TOKEN");
    assert!(stderr(&o).contains(&expected), "{}", stderr(&o));
}

#[test]
fn an_explicit_url_that_refuses_is_named() {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("http://127.0.0.1:{port}");
    let o = tempi_remote(&url, &["items"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains(&format!("cannot reach the tempi daemon at {url}")),
        "{}",
        stderr(&o)
    );
}

#[test]
fn validate_reports_file_line_col_and_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cli");
    let bad = fixtures.join("bad.yaml");
    let o = tempi(dir.path(), &["validate", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    let located = err.lines().any(|l| {
        let Some(rest) = l.split("bad.yaml:").nth(1) else {
            return false;
        };
        let mut parts = rest.splitn(3, ':');
        let line = parts.next().and_then(|n| n.parse::<usize>().ok());
        let col = parts.next().and_then(|n| n.parse::<usize>().ok());
        line.is_some_and(|n| n >= 1) && col.is_some_and(|n| n >= 1)
    });
    assert!(located, "no file:line:col in\n{err}");

    let good = fixtures.join("good.yaml");
    let o = tempi(dir.path(), &["validate", good.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("ok: 1 workflows"));
}

#[test]
fn validate_of_a_missing_path_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let o = tempi(dir.path(), &["validate", "/nonexistent/flow.yaml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("/nonexistent/flow.yaml: no such file or directory"));
}

#[test]
fn audit_reads_an_archive_without_a_daemon() {
    use tempi::types::event::{Event, Record};
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("archive");
    let at = chrono::Utc::now();
    let rec = |seq: u64, item: u64| Record {
        seq,
        at,
        item: Some(item),
        actor: "engine".into(),
        reason: None,
        event: Event::ItemCompleted { item },
    };
    tempi::store::archive::append(&archive, at, &[rec(4, 1), rec(9, 2)]).unwrap();
    // The same batch again, as after a crash between archiving and removing: read once.
    tempi::store::archive::append(&archive, at, &[rec(4, 1), rec(9, 2)]).unwrap();
    let path = archive.to_str().unwrap();
    let o = tempi(dir.path(), &["audit", "--archive", path, "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let all: Vec<Record> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(all.iter().map(|r| r.seq).collect::<Vec<_>>(), vec![4, 9]);
    let o = tempi(dir.path(), &["audit", "2", "--archive", path, "--json"]);
    let one: Vec<Record> = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(one, vec![rec(9, 2)]);
    let o = tempi(dir.path(), &["audit", "--archive", "/nonexistent/archive"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("/nonexistent/archive"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn validate_refuses_a_fifo_without_reading_it_and_an_empty_dir_is_a_problem() {
    let dir = tempfile::tempdir().unwrap();
    let fifo = dir.path().join("pipe.yaml");
    let made = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: mkfifo only reads the path string.
    assert_eq!(unsafe { libc::mkfifo(made.as_ptr(), 0o600) }, 0);
    let o = tempi(dir.path(), &["validate", fifo.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("pipe.yaml:1:1: not a regular file"),
        "{}",
        stderr(&o)
    );
    let empty = dir.path().join("empty");
    std::fs::create_dir(&empty).unwrap();
    let o = tempi(dir.path(), &["validate", empty.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("no workflow files"), "{}", stderr(&o));
}

#[test]
fn serve_refuses_a_workflows_dir_that_does_not_exist_and_says_each_error_once() {
    let dir = tempfile::tempdir().unwrap();
    let o = tempi(
        dir.path(),
        &[
            "--workflows",
            "/does-not-exist",
            "serve",
            "--listen",
            "127.0.0.1:0",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("the workflows directory /does-not-exist does not exist"));
    let wf = dir.path().join("wf");
    std::fs::create_dir(&wf).unwrap();
    std::fs::write(wf.join("bad.yaml"), "name: x\nversion: 1\u{0}\nsteps: []\n").unwrap();
    let o = tempi(
        dir.path(),
        &[
            "--workflows",
            wf.to_str().unwrap(),
            "serve",
            "--listen",
            "127.0.0.1:0",
        ],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert_eq!(err.matches("U+0000").count(), 1, "{err}");
}

/// One task for `tester` whose item breaches after a second, one for finance, one for
/// someone else.
fn quick(who: &str) -> String {
    format!(
        "name: quick-{who}\nversion: 1\nsla: {{ due: 1s }}\nsteps:\n  - id: decide\n    kind: human\n    title: Decide\n    assignee: {who}\n"
    )
}

const GROUP_WF: &str = r#"name: grouped
version: 1
steps:
  - id: decide
    kind: human
    title: "Decide"
    group: finance
"#;

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn status_is_one_line_for_a_status_bar() {
    let dir = tempfile::tempdir().unwrap();
    let down = tempi(dir.path(), &["status", "--tmux"]);
    assert_eq!(down.status.code(), Some(1));
    assert_eq!(
        stdout(&down),
        "#[fg=red]tempi down#[default]\n",
        "{}",
        stderr(&down)
    );
    let down = tempi(dir.path(), &["status"]);
    assert_eq!(down.status.code(), Some(1));
    assert_eq!(stderr(&down).lines().count(), 1, "{}", stderr(&down));
    assert!(
        stderr(&down).contains("no tempi daemon is running"),
        "{}",
        stderr(&down)
    );

    let data = dir.path().join("data");
    let wf = dir.path().join("wf");
    std::fs::create_dir_all(&wf).unwrap();
    for who in ["tester", "bob"] {
        std::fs::write(wf.join(format!("quick-{who}.yaml")), quick(who)).unwrap();
    }
    std::fs::write(wf.join("grouped.yaml"), GROUP_WF).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_tempi"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&data)
        .arg("--workflows")
        .arg(&wf)
        .env_remove("TEMPI_URL")
        .env_remove("TEMPI_TOKEN")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let up = common::wait_up(&mut child, &data);
    assert!(up.url.starts_with("http://") && !up.token.is_empty());
    for wf in ["quick-tester", "quick-bob"] {
        let o = tempi(&data, &["start", wf]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let o = tempi(&data, &["start", "grouped"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    let summary = loop {
        let o = tempi(&data, &["status", "--json"]);
        assert!(o.status.success(), "{}", stderr(&o));
        let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
        if v["breached"] == 2 && v["in_flight"] == 3 {
            break v;
        }
        assert!(std::time::Instant::now() < deadline, "never breached: {v}");
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    assert_eq!(summary["my_tasks"], 1, "tester's, not bob's: {summary}");
    let grouped = tempi(&data, &["status", "--json", "--groups", "finance"]);
    let v: serde_json::Value = serde_json::from_slice(&grouped.stdout).unwrap();
    assert_eq!(v["my_tasks"], 2, "and finance's with --groups: {v}");
    let plain = tempi(&data, &["status"]);
    assert_eq!(stdout(&plain), "at risk 0 · breached 2 · my tasks 1\n");
    let bar = tempi(&data, &["status", "--tmux"]);
    assert_eq!(
        stdout(&bar),
        "at risk 0 · #[fg=red,bold]breached 2#[default] · #[fg=cyan,bold]my tasks 1#[default]\n"
    );
    let _ = child.kill();
    let _ = child.wait();
}
