//! A full disk is an ordinary condition: work is refused with the path, reads are served,
//! the engine resumes by itself; a failed fsync stops it with the reason.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;
use tempi::engine::runtime::{self, EngineConfig, ManualClock, Running};
use tempi::store::faults::{Fault, Faults};
use tempi::types::Health;
use tempi::types::command::{Command, CommandError};
use tempi::types::event::{Event, Phase};
use tempi::types::view::{ItemFilter, ItemStatus};

const TWO_STEPS: &str = r#"name: f
version: 1
steps:
  - id: a
    kind: http
    request: { method: POST, url: "http://svc.invalid/a" }
    timeout: 1h
  - id: b
    kind: http
    needs: [a]
    request: { method: POST, url: "http://svc.invalid/b" }
    timeout: 1h
"#;

/// Keeps every job it is given, to be answered when the test says.
#[derive(Default)]
struct Held {
    jobs: Mutex<Vec<(String, tempi::exec::Answer)>>,
}

struct Exec(Arc<Held>);

impl tempi::exec::Executor for Exec {
    fn start(&self, job: tempi::exec::Job, answer: tempi::exec::Answer) {
        let url = match job {
            tempi::exec::Job::Http(h) => h.url,
            other => format!("{other:?}"),
        };
        self.0.jobs.lock().unwrap().push((url, answer));
    }
}

impl Held {
    fn urls(&self) -> Vec<String> {
        self.jobs
            .lock()
            .unwrap()
            .iter()
            .map(|j| j.0.clone())
            .collect()
    }

    fn answer(&self, n: usize) {
        let jobs = self.jobs.lock().unwrap();
        (jobs[n].1)(Ok(json!({ "ok": n })).into());
    }
}

struct Setup {
    _tmp: tempfile::TempDir,
    data: std::path::PathBuf,
    wf: std::path::PathBuf,
    clock: Arc<ManualClock>,
}

impl Setup {
    fn new() -> Setup {
        let tmp = tempfile::tempdir().unwrap();
        let wf = tmp.path().join("wf");
        std::fs::create_dir_all(&wf).unwrap();
        std::fs::write(wf.join("f.yaml"), TWO_STEPS).unwrap();
        Setup {
            data: tmp.path().join("data"),
            wf,
            clock: Arc::new(ManualClock::new(chrono::Utc::now())),
            _tmp: tmp,
        }
    }

    fn journal(&self) -> std::path::PathBuf {
        self.data.join(tempi::store::JOURNAL_FILE)
    }

    async fn start(&self, exec: &Arc<Held>, faults: Option<&Faults>) -> Running {
        let mut config = EngineConfig::new(self.data.clone(), Some(self.wf.clone()));
        config.clock = self.clock.clone();
        config.seed = Some(1);
        config.executor = Some(Arc::new(Exec(exec.clone())));
        if let Some(f) = faults {
            config.wrap_store = Some(Arc::new(f.wrapper()));
        }
        runtime::start(config).await.unwrap()
    }
}

fn start_cmd(n: u64) -> Command {
    Command::Start {
        workflow: "f".into(),
        version: None,
        input: json!({ "n": n }),
        priority: 0,
        since: None,
    }
}

async fn until(what: &str, mut check: impl FnMut() -> bool) {
    for _ in 0..400 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {what}");
}

/// The router of the real API over `run`, on loopback: (url, token).
async fn serve_api(run: &Running) -> (String, String, tokio::sync::watch::Sender<bool>) {
    let token = "t0ken".to_string();
    let (stop, stopping) = tokio::sync::watch::channel(false);
    let app = tempi::api::server::router(run.handle.clone(), token.clone(), stopping);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(axum::serve(listener, app).into_future());
    (url, token, stop)
}

fn succeeded(records: &[tempi::types::Record], step: &str) -> usize {
    records
        .iter()
        .filter(|r| {
            matches!(&r.event, Event::StepSucceeded { step: s, phase: Phase::Run, .. } if s == step)
        })
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_refuses_work_with_the_path_keeps_reads_and_resumes_by_itself() {
    let s = Setup::new();
    let exec = Arc::new(Held::default());
    let faults = Faults::new(s.journal());
    let run = s.start(&exec, Some(&faults)).await;
    let h = run.handle.clone();
    let first = h
        .command(&tempi::types::identity::Who::root("op"), None, start_cmd(1))
        .await
        .unwrap();
    let item = first.item.unwrap();
    until("step a dispatched", || exec.urls().len() == 1).await;
    let (url, token, _stop) = serve_api(&run).await;
    let http = reqwest::Client::new();

    // The executor's answer lands in a batch whose commit fails.
    faults.fail(Fault::DiskFull);
    exec.answer(0);
    until("refusing", || matches!(h.health(), Health::Refusing(_))).await;
    let refused = h
        .command(&tempi::types::identity::Who::root("op"), None, start_cmd(2))
        .await
        .unwrap_err();
    let CommandError::Unavailable(why) = &refused else {
        panic!("{refused:?}");
    };
    let journal = s.journal().display().to_string();
    assert!(
        why.contains("the disk is full") && why.contains(&journal),
        "{why}"
    );
    assert_eq!(h.health().reason(), Some(why.as_str()));

    // /healthz says so; reads are served from the state the journal holds.
    let health = http.get(format!("{url}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 503);
    let body: serde_json::Value = health.json().await.unwrap();
    assert_eq!(body["state"], "refusing");
    assert!(
        body["reason"].as_str().unwrap().contains(&journal),
        "{body}"
    );
    let post = http
        .post(format!("{url}/api/items"))
        .bearer_auth(&token)
        .json(&json!({ "workflow": "f" }))
        .send()
        .await
        .unwrap();
    assert_eq!(post.status(), 503);
    let body: serde_json::Value = post.json().await.unwrap();
    assert!(
        body["message"].as_str().unwrap().contains("disk is full"),
        "{body}"
    );
    let list = http
        .get(format!("{url}/api/items"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(list.status(), 200);
    let items = h.items(ItemFilter::default()).await.unwrap();
    assert_eq!(items.iter().map(|i| i.id).collect::<Vec<_>>(), vec![item]);
    let detail = h.item(item).await.unwrap().unwrap();
    assert_eq!(detail.summary.status, ItemStatus::Running);
    assert!(h.metrics().await.is_ok());
    assert!(h.tasks(Default::default()).await.is_ok());

    // Nothing of the failed batch is in the journal, and its dispatch did not run.
    let on_disk = tempi::store::read_records(&s.data, None, 0, usize::MAX).unwrap();
    assert_eq!(succeeded(&on_disk, "a"), 0);
    assert_eq!(h.metrics().await.unwrap().journal_seq, on_disk.len() as u64);
    assert_eq!(exec.urls(), vec!["http://svc.invalid/a"]);
    assert!(faults.failed() >= 1);

    // Space again: the engine resumes by itself and applies the held answer once.
    faults.heal();
    s.clock.advance(chrono::Duration::seconds(1));
    until("running again", || h.health() == Health::Running).await;
    until("step b dispatched", || exec.urls().len() == 2).await;
    assert_eq!(exec.urls()[1], "http://svc.invalid/b");
    let health = http.get(format!("{url}/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let second = h
        .command(&tempi::types::identity::Who::root("op"), None, start_cmd(3))
        .await
        .unwrap();
    exec.answer(1);
    let mut done = false;
    for _ in 0..400 {
        if h.item(item).await.unwrap().unwrap().summary.status == ItemStatus::Completed {
            done = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(done, "item {item} completed after the disk had room again");
    let before: Vec<_> = h.items(ItemFilter::default()).await.unwrap();
    run.shutdown().await;

    let records = tempi::store::read_records(&s.data, None, 0, usize::MAX).unwrap();
    let seqs: Vec<u64> = records.iter().map(|r| r.seq).collect();
    assert_eq!(seqs, (1..=records.len() as u64).collect::<Vec<_>>());
    assert_eq!(succeeded(&records, "a"), 1, "step a succeeded once");
    assert_eq!(succeeded(&records, "b"), 1, "step b succeeded once");
    let started: Vec<u64> = records
        .iter()
        .filter_map(|r| match r.event {
            Event::ItemStarted { item, .. } => Some(item),
            _ => None,
        })
        .collect();
    assert_eq!(
        started,
        vec![item, second.item.unwrap()],
        "only acknowledged items"
    );

    // A restart replays the same state.
    let again = s.start(&Arc::new(Held::default()), None).await;
    let after = again.handle.items(ItemFilter::default()).await.unwrap();
    assert_eq!(
        serde_json::to_value(&after).unwrap(),
        serde_json::to_value(&before).unwrap()
    );
    again.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn commands_during_a_long_full_disk_are_refused_and_probes_keep_failing_until_space_returns()
{
    let s = Setup::new();
    let exec = Arc::new(Held::default());
    let faults = Faults::new(s.journal());
    let run = s.start(&exec, Some(&faults)).await;
    let h = run.handle.clone();
    h.command(&tempi::types::identity::Who::root("op"), None, start_cmd(1))
        .await
        .unwrap();
    faults.fail(Fault::DiskFull);
    let err = h
        .command(&tempi::types::identity::Who::root("op"), None, start_cmd(2))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("the disk is full"), "{err}");
    for _ in 0..3 {
        let failed = faults.failed();
        s.clock.advance(chrono::Duration::seconds(1));
        until("another probe", || faults.failed() > failed).await;
        let err = h
            .command(&tempi::types::identity::Who::root("op"), None, start_cmd(3))
            .await
            .unwrap_err();
        assert!(err.to_string().contains("the disk is full"), "{err}");
        assert!(matches!(h.health(), Health::Refusing(_)));
    }
    faults.heal();
    s.clock.advance(chrono::Duration::seconds(1));
    until("running again", || h.health() == Health::Running).await;
    let ok = h
        .command(&tempi::types::identity::Who::root("op"), None, start_cmd(4))
        .await
        .unwrap();
    assert_eq!(ok.item, Some(2), "the refused starts took no id");
    run.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_fsync_stops_the_engine_with_the_reason() {
    let s = Setup::new();
    let exec = Arc::new(Held::default());
    let faults = Faults::new(s.journal());
    let run = s.start(&exec, Some(&faults)).await;
    let h = run.handle.clone();
    h.command(&tempi::types::identity::Who::root("op"), None, start_cmd(1))
        .await
        .unwrap();
    faults.fail(Fault::Fsync);
    let err = h
        .command(&tempi::types::identity::Who::root("op"), None, start_cmd(2))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("the page cache can no longer be trusted"),
        "{err}"
    );
    let why = tokio::time::timeout(Duration::from_secs(5), h.stopped())
        .await
        .expect("the engine stopped");
    assert!(why.contains(&s.journal().display().to_string()), "{why}");
    assert!(matches!(h.health(), Health::Stopped(_)));
    let read = h.items(ItemFilter::default()).await.unwrap_err();
    assert!(read.to_string().contains("page cache"), "{read}");
    run.shutdown().await;
    let records = tempi::store::read_records(&s.data, None, 0, usize::MAX).unwrap();
    let started = records
        .iter()
        .filter(|r| matches!(r.event, Event::ItemStarted { .. }))
        .count();
    assert_eq!(started, 1, "only the acknowledged item is in the journal");
}

/// A small tmpfs, unmounted on drop; None where mounting is not allowed (not root).
struct Tmpfs(tempfile::TempDir);

impl Tmpfs {
    fn mount(size: &str) -> Option<Tmpfs> {
        let dir = tempfile::tempdir().ok()?;
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Tmpfs(dir))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.0.path())
            .status();
    }
}

/// Fill the file system of `path` until a write fails with ENOSPC.
fn fill(path: &std::path::Path) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![7u8; 64 * 1024];
    loop {
        match f.write_all(&chunk) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
            Err(e) => panic!("filling {}: {e}", path.display()),
        }
    }
    // Room for small writes may remain in partly used blocks: take that too.
    while f.write_all(&[7u8; 512]).is_ok() {}
    let _ = f.sync_all();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_full_tmpfs_refuses_work_then_resumes_once_space_is_freed() {
    let Some(fs) = Tmpfs::mount("8m") else {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    };
    let s = Setup::new();
    let data = fs.0.path().join("data");
    let mut config = EngineConfig::new(data.clone(), Some(s.wf.clone()));
    config.clock = s.clock.clone();
    let exec = Arc::new(Held::default());
    config.executor = Some(Arc::new(Exec(exec.clone())));
    let run = runtime::start(config).await.unwrap();
    let h = run.handle.clone();
    h.command(&tempi::types::identity::Who::root("op"), None, start_cmd(0))
        .await
        .unwrap();
    let filler = fs.0.path().join("filler");
    fill(&filler);
    // SQLite may still fit a few commits in pages it has: go on until one fails.
    let big = "x".repeat(64 * 1024);
    let mut refused = None;
    let mut acknowledged = 1;
    for n in 0..200 {
        let cmd = Command::Start {
            workflow: "f".into(),
            version: None,
            input: json!({ "n": n, "pad": big }),
            priority: 0,
            since: None,
        };
        match h
            .command(&tempi::types::identity::Who::root("op"), None, cmd)
            .await
        {
            Ok(_) => acknowledged += 1,
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
    }
    let refused = refused.expect("a commit failed on the full tmpfs");
    assert!(
        refused.to_string().contains("the disk is full at"),
        "{refused}"
    );
    assert!(
        refused.to_string().contains(&data.display().to_string()),
        "{refused}"
    );
    until("refusing", || matches!(h.health(), Health::Refusing(_))).await;
    let listed = h.items(ItemFilter::default()).await.unwrap();
    assert_eq!(
        listed.len(),
        acknowledged,
        "reads show what was acknowledged"
    );

    std::fs::remove_file(&filler).unwrap();
    until("running again", || h.health() == Health::Running).await;
    h.command(&tempi::types::identity::Who::root("op"), None, start_cmd(1))
        .await
        .unwrap();
    let listed = h.items(ItemFilter::default()).await.unwrap();
    assert_eq!(listed.len(), acknowledged + 1);
    run.shutdown().await;
    let records = tempi::store::read_records(&data, None, 0, usize::MAX).unwrap();
    let started = records
        .iter()
        .filter(|r| matches!(r.event, Event::ItemStarted { .. }))
        .count();
    assert_eq!(
        started,
        acknowledged + 1,
        "the journal holds exactly the acknowledged items"
    );
}

#[tokio::test]
async fn a_shell_step_on_a_full_disk_waits_for_space_to_record_its_group() {
    use tempi::exec::ShellJob;
    use tempi::exec::groups::Groups;
    let Some(fs) = Tmpfs::mount("1m") else {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    };
    let data = fs.0.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let groups = Groups::open(&data).unwrap();
    let filler = fs.0.path().join("filler");
    fill(&filler);
    let job = ShellJob {
        argv: vec!["echo".into(), "ran".into()],
        script: None,
        env: Vec::new(),
        cwd: None,
        ok_codes: Vec::new(),
        timeout: Some(Duration::from_secs(30)),
        idempotency_key: "k".into(),
    };
    let run =
        tokio::spawn(async move { tempi::exec::shell::run_recorded(&job, Some(&groups)).await });
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        !run.is_finished(),
        "the step failed instead of waiting for space"
    );
    std::fs::remove_file(&filler).unwrap();
    let out = tokio::time::timeout(Duration::from_secs(10), run)
        .await
        .expect("it ran once space returned")
        .unwrap()
        .expect("the step succeeded");
    assert_eq!(out["stdout"], "ran\n", "{out}");
}

/// A deploy whose commit fails on a full disk loads nothing, not even in memory: the
/// rebuilt engine lists what the journal holds; one sent while the disk stays full is
/// refused too; once space returns the same deploy goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deploy_on_a_full_disk_loads_nothing_and_goes_through_once_space_returns() {
    use tempi::types::deploy::{DeployFile, DeployStatus};
    let s = Setup::new();
    let exec = Arc::new(Held::default());
    let faults = Faults::new(s.journal());
    let run = s.start(&exec, Some(&faults)).await;
    let h = run.handle.clone();
    let files = || {
        vec![DeployFile {
            path: "f2.yaml".into(),
            source: TWO_STEPS.replace("version: 1", "version: 2"),
        }]
    };
    let before = h.workflows().await.unwrap();
    faults.fail(Fault::DiskFull);
    let err = h
        .deploy(&tempi::types::identity::Who::root("ann"), None, files())
        .await
        .unwrap_err();
    assert!(err.to_string().contains("the disk is full"), "{err}");
    until("refusing", || matches!(h.health(), Health::Refusing(_))).await;
    let err = h
        .deploy(&tempi::types::identity::Who::root("ann"), None, files())
        .await
        .unwrap_err();
    assert!(matches!(err, CommandError::Unavailable(_)), "{err}");
    assert_eq!(h.workflows().await.unwrap(), before, "nothing was loaded");
    faults.heal();
    s.clock.advance(chrono::Duration::seconds(1));
    until("running again", || h.health() == Health::Running).await;
    let d = h
        .deploy(&tempi::types::identity::Who::root("ann"), None, files())
        .await
        .unwrap();
    assert_eq!(d.workflows[0].status, DeployStatus::Deployed);
    let item = h
        .command(&tempi::types::identity::Who::root("op"), None, start_cmd(1))
        .await
        .unwrap()
        .item
        .unwrap();
    assert_eq!(h.item(item).await.unwrap().unwrap().summary.version, 2);
    run.shutdown().await;
}
