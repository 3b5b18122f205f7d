//! `tempi serve` on its Unix socket: the CLI with no token (TEMPI_SOCKET, or found
//! through --data), the login journaled as the actor, TCP still behind the token, the
//! socket's mode and group, a stale socket after kill -9, what is refused at its path,
//! and (when the tests run as root) another user of the machine acting as themselves.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{FLOW, common, stderr};

/// What the `id` command says about this process (`-un`, `-gn`).
fn id(flag: &str) -> String {
    let out = Command::new("id").arg(flag).output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

struct Setup {
    tmp: tempfile::TempDir,
    data: PathBuf,
    wf: PathBuf,
}

fn setup() -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let wf = tmp.path().join("wf");
    std::fs::create_dir_all(&wf).unwrap();
    std::fs::write(wf.join("order.yaml"), FLOW).unwrap();
    Setup { tmp, data, wf }
}

fn serve_cmd(s: &Setup, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tempi"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(&s.data)
        .arg("--workflows")
        .arg(&s.wf)
        .args(args);
    cmd
}

/// A daemon, up, with its daemon.json's url and socket.
fn serve(s: &Setup, args: &[&str]) -> (Child, String, PathBuf) {
    let mut child = serve_cmd(s, args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let up = common::wait_up(&mut child, &s.data);
    let info = std::fs::read_to_string(s.data.join("daemon.json")).unwrap();
    let info: Value = serde_json::from_str(&info).unwrap();
    let socket = info["socket"]
        .as_str()
        .expect("daemon.json names the socket");
    (child, up.url, PathBuf::from(socket))
}

/// The CLI with only the socket to go on: no URL, no token, no actor, and --data a dir
/// without a daemon (or a token) in it.
fn over_socket(socket: &Path, nowhere: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tempi"))
        .arg("--data")
        .arg(nowhere)
        .args(args)
        .env("TEMPI_SOCKET", socket)
        .env_remove("TEMPI_URL")
        .env_remove("TEMPI_TOKEN")
        .env_remove("TEMPI_USER")
        .env_remove("TEMPI_DATA")
        .output()
        .unwrap()
}

fn ok_json(o: Output) -> Value {
    assert!(o.status.success(), "{}", stderr(&o));
    serde_json::from_slice(&o.stdout).unwrap()
}

/// The open task of the only item, once it has one.
fn wait_task(socket: &Path, nowhere: &Path) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let tasks = ok_json(over_socket(socket, nowhere, &["tasks", "--json"]));
        if let Some(id) = tasks[0]["id"].as_u64() {
            return id;
        }
        assert!(Instant::now() < deadline, "no task: {tasks}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Who journaled what on `item`, leaving out the engine's own records.
fn actors(socket: &Path, nowhere: &Path, item: u64) -> Vec<(String, String)> {
    let audit = ok_json(over_socket(
        socket,
        nowhere,
        &["audit", &item.to_string(), "--json"],
    ));
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["actor"] != "engine")
        .map(|r| (text(&r["event"]["type"]), text(&r["actor"])))
        .collect()
}

fn stop(mut child: Child) {
    let pid = i32::try_from(child.id()).unwrap();
    assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
    assert!(child.wait().unwrap().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cli_acts_over_the_default_socket_with_no_token_as_the_login_user() {
    let s = setup();
    let (child, url, socket) = serve(&s, &[]);
    assert_eq!(socket, s.data.join("tempi.sock"));
    let meta = std::fs::symlink_metadata(&socket).unwrap();
    assert!(std::os::unix::fs::FileTypeExt::is_socket(&meta.file_type()));
    assert_eq!(meta.mode() & 0o777, 0o600, "private by default");
    // --data names a dir with no token: the CLI must not need one.
    let nowhere = s.tmp.path().join("elsewhere");
    std::fs::create_dir(&nowhere).unwrap();
    let started = ok_json(over_socket(
        &socket,
        &nowhere,
        &["start", "order", "--input", r#"{"n": 1}"#, "--json"],
    ));
    let item = started["item"].as_u64().unwrap();
    let task = wait_task(&socket, &nowhere).to_string();
    let items = ok_json(over_socket(&socket, &nowhere, &["items", "--json"]));
    assert_eq!(items[0]["id"], item);
    let o = over_socket(&socket, &nowhere, &["approve", &task, "--reason", "fine"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(!nowhere.join("token").exists(), "the CLI made a token");
    let login = id("-un");
    // The decision's records are the decider's: the step it ended too.
    let expected: Vec<(String, String)> = ["item_started", "task_decided", "step_succeeded"]
        .iter()
        .map(|e| (e.to_string(), login.clone()))
        .collect();
    assert_eq!(actors(&socket, &nowhere, item), expected);

    // Over TCP the token is still the only way in.
    let resp = reqwest::get(format!("{url}/api/items")).await.unwrap();
    assert_eq!(resp.status().as_u16(), 401);
    stop(child);
    assert!(!socket.exists(), "the socket outlived the daemon");
    let o = over_socket(&socket, &nowhere, &["items"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains("no tempi daemon is listening on") && err.contains("TEMPI_SOCKET"),
        "{err}"
    );
}

/// A directory for sockets outside the data dir, as /run/tempi would be.
fn run_dir(s: &Setup) -> PathBuf {
    let run = s.tmp.path().join("run");
    std::fs::create_dir(&run).unwrap();
    std::fs::set_permissions(&run, PermissionsExt::from_mode(0o755)).unwrap();
    run
}

#[tokio::test(flavor = "multi_thread")]
async fn a_socket_group_makes_it_0660_and_the_cli_finds_it_through_the_data_dir() {
    let s = setup();
    let path = run_dir(&s).join("tempi.sock");
    let group = id("-gn");
    let path_arg = path.to_str().unwrap();
    let (child, _, socket) = serve(&s, &["--socket", path_arg, "--socket-group", &group]);
    assert_eq!(socket, path);
    let meta = std::fs::symlink_metadata(&path).unwrap();
    // SAFETY: getegid has no preconditions.
    let gid = unsafe { libc::getegid() };
    assert_eq!((meta.mode() & 0o777, meta.gid()), (0o660, gid));
    assert!(!s.data.join("tempi.sock").exists(), "a second socket");
    // Without TEMPI_SOCKET, daemon.json names the socket, and no token is read: one
    // that no longer parses (the daemon read its own at start) does not matter.
    std::fs::write(s.data.join("token"), "not a token\n").unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_tempi"))
        .arg("--data")
        .arg(&s.data)
        .args(["items", "--json"])
        .env_remove("TEMPI_URL")
        .env_remove("TEMPI_TOKEN")
        .env_remove("TEMPI_SOCKET")
        .output()
        .unwrap();
    assert_eq!(ok_json(o), json!([]));
    stop(child);
    assert!(!path.exists(), "the socket outlived the daemon");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_socket_after_kill_9_is_replaced() {
    let s = setup();
    let path = run_dir(&s).join("tempi.sock");
    let path_arg = path.to_str().unwrap();
    let (mut child, _, _) = serve(&s, &["--socket", path_arg]);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(path.exists(), "kill -9 leaves the socket behind");
    let nowhere = s.tmp.path().join("elsewhere");
    let o = over_socket(&path, &nowhere, &["items"]);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let (child, _, socket) = serve(&s, &["--socket", path_arg]);
    assert_eq!(socket, path);
    let items = ok_json(over_socket(&path, &nowhere, &["items", "--all", "--json"]));
    assert_eq!(items, json!([]));
    stop(child);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_data_dir_too_deep_for_a_socket_serves_tcp_and_says_so() {
    let mut s = setup();
    s.data = s.tmp.path().join("d".repeat(110));
    let mut child = serve_cmd(&s, &[])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    common::wait_up(&mut child, &s.data);
    let info = std::fs::read_to_string(s.data.join("daemon.json")).unwrap();
    let info: Value = serde_json::from_str(&info).unwrap();
    assert_eq!(info.get("socket"), None, "{info}");
    // The CLI goes over TCP with the data dir's token.
    let o = Command::new(env!("CARGO_BIN_EXE_tempi"))
        .arg("--data")
        .arg(&s.data)
        .args(["items", "--json"])
        .env_remove("TEMPI_URL")
        .env_remove("TEMPI_TOKEN")
        .env_remove("TEMPI_SOCKET")
        .output()
        .unwrap();
    assert_eq!(ok_json(o), json!([]));
    stop_and_read_stderr(child, |err| {
        assert!(err.contains("warning: no Unix socket"), "{err}");
        assert!(
            err.contains("local users need --socket with a shorter path"),
            "{err}"
        );
    });
}

fn stop_and_read_stderr(mut child: Child, check: impl FnOnce(&str)) {
    use std::io::Read;
    let mut err = String::new();
    let mut pipe = child.stderr.take().unwrap();
    stop(child);
    pipe.read_to_string(&mut err).unwrap();
    check(&err);
}

/// `tempi serve` that must fail at once, before an engine starts; its stderr.
fn refused(s: &Setup, args: &[&str]) -> String {
    let o = serve_cmd(s, args).output().unwrap();
    assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
    assert!(
        !s.data.join("journal.db").exists(),
        "{args:?} started an engine"
    );
    stderr(&o)
}

#[test]
fn what_is_in_the_sockets_way_is_refused_and_left_as_it_was() {
    let s = setup();
    let run = run_dir(&s);
    let file = run.join("file");
    std::fs::write(&file, "keep").unwrap();
    let link = run.join("link");
    std::os::unix::fs::symlink(&file, &link).unwrap();
    let dir = run.join("dir");
    std::fs::create_dir(&dir).unwrap();
    for (path, what) in [
        (&file, "a file"),
        (&link, "a symbolic link"),
        (&dir, "a directory"),
    ] {
        let err = refused(&s, &["--socket", path.to_str().unwrap()]);
        let expected = format!("{what} is there, not a socket");
        assert!(err.contains(&expected), "{err}");
    }
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep");
    assert!(dir.is_dir());
    let link_meta = std::fs::symlink_metadata(&link).unwrap();
    assert!(link_meta.file_type().is_symlink());

    let long = run.join("x".repeat(120));
    let err = refused(&s, &["--socket", long.to_str().unwrap()]);
    assert!(
        err.contains("a Unix socket path is at most 107 bytes"),
        "{err}"
    );
    assert!(!long.exists());

    std::fs::set_permissions(&run, PermissionsExt::from_mode(0o777)).unwrap();
    let err = refused(&s, &["--socket", run.join("s").to_str().unwrap()]);
    assert!(err.contains("can be written by every user"), "{err}");

    let err = refused(&s, &["--socket-group", &id("-gn")]);
    assert!(err.contains("inside the data dir"), "{err}");
    let elsewhere = s.tmp.path().join("s.sock");
    let args = [
        "--socket",
        elsewhere.to_str().unwrap(),
        "--socket-group",
        "no-such-group-tempi",
    ];
    let err = refused(&s, &args);
    assert!(err.contains("no-such-group-tempi: no such group"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_socket_another_daemon_listens_on_is_refused_and_left_to_it() {
    let first = setup();
    let path = run_dir(&first).join("tempi.sock");
    let path_arg = path.to_str().unwrap();
    let (child, _, _) = serve(&first, &["--socket", path_arg]);
    let second = setup();
    let o = serve_cmd(&second, &["--socket", path_arg])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(err.contains("another process is listening on it"), "{err}");
    let nowhere = first.tmp.path().join("elsewhere");
    let items = ok_json(over_socket(&path, &nowhere, &["items", "--json"]));
    assert_eq!(items, json!([]), "the first daemon lost its socket");
    stop(child);
}

/// The tempi binary where `uid` may run it (a copy when the build dir is private).
fn binary_for(uid: u32, tmp: &Path) -> PathBuf {
    let built = PathBuf::from(env!("CARGO_BIN_EXE_tempi"));
    let runs = Command::new(&built)
        .arg("--version")
        .uid(uid)
        .gid(uid)
        .output()
        .is_ok_and(|o| o.status.success());
    if runs {
        return built;
    }
    let copy = tmp.join("tempi");
    std::fs::copy(&built, &copy).unwrap();
    std::fs::set_permissions(&copy, PermissionsExt::from_mode(0o755)).unwrap();
    copy
}

/// The CLI as another user of this machine, who has only TEMPI_SOCKET.
fn as_user(bin: &Path, uid: u32, gid: u32, socket: &Path, args: &[&str]) -> Output {
    Command::new(bin)
        .args(args)
        .env_clear()
        .env("HOME", "/nonexistent")
        .env("TEMPI_SOCKET", socket)
        .current_dir("/")
        .uid(uid)
        // (std drops root's supplementary groups when it sets the uid)
        .gid(gid)
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn another_user_acts_as_the_operator_of_their_login_and_a_stranger_is_refused() {
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("not root: no other uid to try (the unit tests map uids to names)");
        return;
    }
    let (nobody, nogroup) = (65534, 65534);
    let s = setup();
    std::fs::set_permissions(s.tmp.path(), PermissionsExt::from_mode(0o755)).unwrap();
    let path = run_dir(&s).join("tempi.sock");
    let group = nogroup.to_string();
    let (child, _, socket) = serve(
        &s,
        &["--socket", path.to_str().unwrap(), "--socket-group", &group],
    );
    let bin = binary_for(nobody, s.tmp.path());
    let name = tempi::api::peer::user_name(nobody).unwrap();
    let nobody_cli = |args: &[&str]| as_user(&bin, nobody, nogroup, &socket, args);
    let nowhere = s.tmp.path().join("elsewhere");

    // Unregistered, the login is refused with how to register it; the daemon's own
    // user (here, over the socket) registers it.
    let stranger = nobody_cli(&["items"]);
    assert_eq!(stranger.status.code(), Some(1));
    let expected = format!("local user {name} is not a registered operator");
    assert!(
        stderr(&stranger).contains(&expected),
        "{}",
        stderr(&stranger)
    );
    let add = [
        "operator", "add", &name, "--role", "operator", "--groups", "ops",
    ];
    let o = over_socket(&socket, &nowhere, &add);
    assert!(o.status.success(), "{}", stderr(&o));

    let item = ok_json(nobody_cli(&[
        "start",
        "order",
        "--input",
        r#"{"n": 1}"#,
        "--json",
    ]))["item"]
        .as_u64()
        .unwrap();
    let task = wait_task(&socket, &nowhere).to_string();
    let spoof = nobody_cli(&["--as", "ann", "approve", &task]);
    assert_eq!(spoof.status.code(), Some(1));
    let expected = format!("you are {name}; acting as ann (x-tempi-actor) needs an admin");
    assert!(stderr(&spoof).contains(&expected), "{}", stderr(&spoof));
    let o = nobody_cli(&["approve", &task]);
    assert!(o.status.success(), "{}", stderr(&o));
    let journaled = actors(&socket, &nowhere, item);
    let expected: Vec<(String, String)> = ["item_started", "task_decided", "step_succeeded"]
        .iter()
        .map(|e| (e.to_string(), name.clone()))
        .collect();
    assert_eq!(journaled, expected);

    // A uid in the group but with no login name, and a user outside the group.
    let ghost = as_user(&bin, 3_999_999, nogroup, &socket, &["items"]);
    assert_eq!(ghost.status.code(), Some(1));
    let err = stderr(&ghost);
    assert!(err.contains("uid 3999999 has no entry"), "{err}");
    let outsider = as_user(&bin, nobody, 3_999_999, &socket, &["items"]);
    assert_eq!(outsider.status.code(), Some(1));
    let err = stderr(&outsider);
    assert!(
        err.contains("permission denied on the tempi socket"),
        "{err}"
    );
    stop(child);
}
