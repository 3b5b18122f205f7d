//! Step work ends with its step: real process groups and real HTTP connections after
//! cancel, skip, deadline and timeout, and after a daemon killed with SIGKILL.

use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tempi::engine::runtime::{self, EngineConfig, ManualClock, Running};
use tempi::types::command::Command;
use tempi::types::job::StepTimeouts;
use tempi::types::view::ItemStatus;

/// Each shell step's leader and its background child append their pids to `<step>.pids`.
const FLOWS: &[(&str, &str)] = &[
    (
        "hold",
        r#"name: hold
version: 1
steps:
  - id: s
    kind: shell
    script: "echo $$ >> {{ input.dir }}/s.pids; sleep 1000 & echo $! >> {{ input.dir }}/s.pids; wait"
  - id: after
    kind: pass
    needs: [s]
    output: {}
"#,
    ),
    (
        "late",
        r#"name: late
version: 1
steps:
  - id: s
    kind: shell
    deadline: 30s
    script: "echo $$ >> {{ input.dir }}/s.pids; sleep 1000 & echo $! >> {{ input.dir }}/s.pids; wait"
"#,
    ),
    (
        "pair",
        r#"name: pair
version: 1
steps:
  - id: one
    kind: shell
    script: "echo $$ >> {{ input.dir }}/one.pids; sleep 1000 & echo $! >> {{ input.dir }}/one.pids; wait"
  - id: two
    kind: shell
    script: "echo $$ >> {{ input.dir }}/two.pids; sleep 1000 & echo $! >> {{ input.dir }}/two.pids; wait"
"#,
    ),
    (
        "silent",
        r#"name: silent
version: 1
steps:
  - id: call
    kind: http
    request:
      method: GET
      url: "{{ input.url }}"
"#,
    ),
];

fn write_flows(dir: &Path) -> PathBuf {
    let wf = dir.join("wf");
    std::fs::create_dir_all(&wf).unwrap();
    for (name, text) in FLOWS {
        std::fs::write(wf.join(format!("{name}.yaml")), text).unwrap();
    }
    wf
}

/// Whether a process runs (a zombie waiting for its reaper does not).
fn alive(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rfind(')')
        .and_then(|k| stat[k + 1..].trim().chars().next());
    !matches!(state, Some('Z' | 'X') | None)
}

fn pids(file: &Path) -> Vec<i32> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect()
}

/// Kills whatever a failed test left behind.
struct Reaper(Vec<PathBuf>);

impl Drop for Reaper {
    fn drop(&mut self) {
        for f in &self.0 {
            for pid in pids(f) {
                // SAFETY: a plain signal to a pid this test's steps wrote.
                unsafe {
                    libc::kill(pid, libc::SIGKILL);
                }
            }
        }
    }
}

fn wait_for(what: &str, limit: Duration, mut check: impl FnMut() -> bool) {
    let end = Instant::now() + limit;
    while !check() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

async fn until(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let end = Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn engine(dir: &Path, tune: impl FnOnce(&mut EngineConfig)) -> Running {
    let wf = write_flows(dir);
    let mut config = EngineConfig::new(dir.join("data"), Some(wf));
    tune(&mut config);
    runtime::start(config).await.unwrap()
}

async fn start(run: &Running, workflow: &str, input: Value) -> u64 {
    let cmd = Command::Start {
        workflow: workflow.into(),
        version: None,
        input,
        priority: 0,
        since: None,
    };
    run.handle
        .command(&tempi::types::identity::Who::root("op"), None, cmd)
        .await
        .unwrap()
        .item
        .unwrap()
}

async fn status(run: &Running, item: u64) -> ItemStatus {
    run.handle.item(item).await.unwrap().unwrap().summary.status
}

/// Start `workflow` and wait until its step's leader and child both run.
async fn started_group(run: &Running, workflow: &str, dir: &Path) -> (u64, Vec<i32>) {
    let input = json!({ "dir": dir.to_str().unwrap() });
    let item = start(run, workflow, input).await;
    let file = dir.join("s.pids");
    until("the step's processes", async || {
        let p = pids(&file);
        p.len() == 2 && p.iter().all(|&p| alive(p))
    })
    .await;
    (item, pids(&file))
}

fn all_gone(group: &[i32]) {
    wait_for(
        "the whole process group to end",
        Duration::from_secs(5),
        || group.iter().all(|&p| !alive(p)),
    );
}

fn records(data: &Path) -> Vec<PathBuf> {
    match std::fs::read_dir(data.join("running")) {
        Ok(d) => d.flatten().map(|e| e.path()).collect(),
        Err(_) => Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_ends_the_steps_whole_process_group() {
    let tmp = tempfile::tempdir().unwrap();
    let _reaper = Reaper(vec![tmp.path().join("s.pids")]);
    let run = engine(tmp.path(), |_| {}).await;
    let (item, group) = started_group(&run, "hold", tmp.path()).await;
    assert_eq!(records(&tmp.path().join("data")).len(), 1, "one live group");
    assert_eq!(run.attempts.len(), 1);
    let cmd = Command::Cancel { item };
    run.handle
        .command(&tempi::types::identity::Who::root("op"), None, cmd)
        .await
        .unwrap();
    all_gone(&group);
    until("the attempt to leave", async || run.attempts.is_empty()).await;
    assert!(
        records(&tmp.path().join("data")).is_empty(),
        "record removed"
    );
    assert_eq!(status(&run, item).await, ItemStatus::Cancelled);
    run.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn skip_ends_the_running_step_and_the_item_moves_on() {
    let tmp = tempfile::tempdir().unwrap();
    let _reaper = Reaper(vec![tmp.path().join("s.pids")]);
    let run = engine(tmp.path(), |_| {}).await;
    let (item, group) = started_group(&run, "hold", tmp.path()).await;
    let cmd = Command::Skip {
        item,
        step: "s".into(),
    };
    run.handle
        .command(&tempi::types::identity::Who::root("op"), None, cmd)
        .await
        .unwrap();
    all_gone(&group);
    until("completion", async || {
        status(&run, item).await == ItemStatus::Completed
    })
    .await;
    until("the attempt to leave", async || run.attempts.is_empty()).await;
    run.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_ends_the_steps_whole_process_group() {
    let tmp = tempfile::tempdir().unwrap();
    let _reaper = Reaper(vec![tmp.path().join("s.pids")]);
    let clock = Arc::new(ManualClock::new(chrono::Utc::now()));
    let c = clock.clone();
    let run = engine(tmp.path(), |cfg| cfg.clock = c).await;
    let (item, group) = started_group(&run, "late", tmp.path()).await;
    clock.advance(chrono::Duration::seconds(31));
    all_gone(&group);
    until("the incident", async || {
        status(&run, item).await == ItemStatus::Incident
    })
    .await;
    let d = run.handle.item(item).await.unwrap().unwrap();
    let error = d.steps[0].error.as_ref().unwrap();
    assert_eq!(error.kind.name(), "deadline", "{error}");
    until("the attempt to leave", async || run.attempts.is_empty()).await;
    run.shutdown().await;
}

/// A server that accepts connections, reads, never answers; it reports each connection
/// that the other side closed.
async fn silent_server() -> (String, tokio::sync::mpsc::UnboundedReceiver<()>) {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hang", listener.local_addr().unwrap());
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let tx = tx.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                while let Ok(n) = conn.read(&mut buf).await {
                    if n == 0 {
                        let _ = tx.send(());
                        return;
                    }
                }
                let _ = tx.send(());
            });
        }
    });
    (url, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_closes_an_http_request_that_gets_no_answer() {
    let tmp = tempfile::tempdir().unwrap();
    let (url, mut closed) = silent_server().await;
    let run = engine(tmp.path(), |_| {}).await;
    let item = start(&run, "silent", json!({ "url": url })).await;
    until("the request", async || run.attempts.len() == 1).await;
    // The request is open and unanswered.
    let early = tokio::time::timeout(Duration::from_millis(300), closed.recv()).await;
    assert!(early.is_err(), "the connection closed before the cancel");
    let cmd = Command::Cancel { item };
    run.handle
        .command(&tempi::types::identity::Who::root("op"), None, cmd)
        .await
        .unwrap();
    let seen = tokio::time::timeout(Duration::from_secs(5), closed.recv()).await;
    assert!(seen.is_ok(), "the server never saw the connection drop");
    until("the attempt to leave", async || run.attempts.is_empty()).await;
    run.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_http_step_with_no_timeout_times_out_by_default_and_raises_an_incident() {
    let tmp = tempfile::tempdir().unwrap();
    let (url, mut closed) = silent_server().await;
    let run = engine(tmp.path(), |cfg| {
        cfg.step_timeouts = StepTimeouts {
            http: Duration::from_millis(600),
            ..StepTimeouts::default()
        };
    })
    .await;
    let item = start(&run, "silent", json!({ "url": url })).await;
    until("the incident", async || {
        status(&run, item).await == ItemStatus::Incident
    })
    .await;
    let d = run.handle.item(item).await.unwrap().unwrap();
    let error = d.steps[0].error.as_ref().unwrap();
    assert_eq!(error.kind.name(), "timeout", "{error}");
    let seen = tokio::time::timeout(Duration::from_secs(5), closed.recv()).await;
    assert!(seen.is_ok(), "the server never saw the connection drop");
    run.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shell_step_gets_only_path_home_lang_and_its_own_env() {
    // cargo gives this test process more than these (CARGO_MANIFEST_DIR at least).
    assert!(std::env::var_os("CARGO_MANIFEST_DIR").is_some());
    let job = tempi::exec::ShellJob {
        argv: vec!["env".into()],
        script: None,
        env: vec![("MINE".into(), "1".into())],
        cwd: None,
        ok_codes: Vec::new(),
        timeout: None,
        idempotency_key: "k".into(),
    };
    let out = tempi::exec::shell::run(&job).await.unwrap();
    let names: Vec<&str> = out["stdout"]
        .as_str()
        .unwrap()
        .lines()
        .filter_map(|l| l.split('=').next())
        .collect();
    let allowed = [
        "PATH",
        "HOME",
        "LANG",
        "MINE",
        "TEMPI_IDEMPOTENCY_KEY",
        "PWD",
    ];
    assert!(names.iter().all(|n| allowed.contains(n)), "{names:?}");
    assert!(names.contains(&"MINE") && names.contains(&"TEMPI_IDEMPOTENCY_KEY"));
}

// ---- the daemon killed with SIGKILL ----

fn serve(data: &Path, wf: &Path) -> Child {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_tempi"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .arg("--workflows")
        .arg(wf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let pid = child.id();
    wait_for("the daemon", Duration::from_secs(30), || {
        let info = std::fs::read_to_string(data.join("daemon.json")).unwrap_or_default();
        let info: Value = serde_json::from_str(&info).unwrap_or(Value::Null);
        info["pid"] == pid
    });
    child
}

#[test]
fn a_daemon_killed_mid_step_leaves_nothing_running_and_nothing_runs_twice() {
    let tmp = tempfile::tempdir().unwrap();
    let (data, wf) = (tmp.path().join("data"), write_flows(tmp.path()));
    let files = [tmp.path().join("one.pids"), tmp.path().join("two.pids")];
    let _reaper = Reaper(files.to_vec());
    let mut first = serve(&data, &wf);
    let input = json!({ "dir": tmp.path().to_str().unwrap() }).to_string();
    let o = std::process::Command::new(env!("CARGO_BIN_EXE_tempi"))
        .arg("--data")
        .arg(&data)
        .args(["start", "pair", "--input", &input])
        .env_remove("TEMPI_URL")
        .env_remove("TEMPI_TOKEN")
        .env_remove("TEMPI_SOCKET")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let running = |n: usize| {
        let files = files.clone();
        move || {
            files.iter().all(|f| {
                let p = pids(f);
                p.len() == n && p[n - 2..].iter().all(|&p| alive(p))
            })
        }
    };
    wait_for("both steps' processes", Duration::from_secs(20), running(2));
    let old: Vec<i32> = files.iter().flat_map(|f| pids(f)).collect();
    assert_eq!(records(&data).len(), 2);

    first.kill().unwrap(); // SIGKILL: no cleanup of its own
    first.wait().unwrap();
    assert!(
        old.iter().all(|&p| alive(p)),
        "the groups outlive their daemon"
    );

    let mut second = serve(&data, &wf);
    wait_for(
        "the steps to run again",
        Duration::from_secs(20),
        running(4),
    );
    // The new daemon ended the old groups before it dispatched again: by the time the
    // new copies run, the old ones are gone (their pids gone, or reused by processes
    // that started later).
    all_gone(&old);
    let now: Vec<i32> = files.iter().flat_map(|f| pids(f)[2..].to_vec()).collect();
    assert!(
        now.iter().all(|&p| alive(p)),
        "the re-dispatched copies run"
    );
    let recs = records(&data);
    assert_eq!(recs.len(), 2, "only the new groups are recorded: {recs:?}");
    for r in &recs {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(r).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", r.display());
    }
    second.kill().unwrap();
    second.wait().unwrap();
}
