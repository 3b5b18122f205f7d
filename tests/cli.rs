//! The real `tempi` binary: usage errors, `validate`, every way of not reaching a
//! daemon (none, stale daemon.json, refused port, wrong token, server errors), and the
//! conventions: exit codes, `--json` on every verb, known workflow names, completions
//! and man pages.

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
        .env_remove("TEMPI_SOCKET")
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
        &["items", "--workflow", ""],
        &["start", ""],
        &["completions"],
        &["completions", "tcsh"],
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
        assert_eq!(o.status.code(), Some(3), "{args:?}");
        assert!(
            stderr(&o).contains(&no_daemon_message(dir.path())),
            "{args:?}: {}",
            stderr(&o)
        );
    }
}

#[test]
fn a_tempi_socket_that_is_not_a_daemons_says_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let with_socket = |socket: &Path| {
        Command::new(env!("CARGO_BIN_EXE_tempi"))
            .arg("--data")
            .arg(dir.path())
            .arg("items")
            .env("TEMPI_SOCKET", socket)
            .env_remove("TEMPI_URL")
            .output()
            .unwrap()
    };
    // Nothing there, or a socket no one listens on: no daemon (3), and how to start one.
    let missing = dir.path().join("tempi.sock");
    let stale = dir.path().join("stale.sock");
    drop(std::os::unix::net::UnixListener::bind(&stale).unwrap());
    for socket in [&missing, &stale] {
        let o = with_socket(socket);
        assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
        let expected = format!(
            "no tempi daemon is listening on {} (TEMPI_SOCKET): start it with tempi serve --socket",
            socket.display()
        );
        assert!(stderr(&o).contains(&expected), "{}", stderr(&o));
    }
    // A file, or a path no socket can have: a mistake (1), said as one.
    let file = dir.path().join("file");
    std::fs::write(&file, "").unwrap();
    let o = with_socket(&file);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("is not a socket"), "{}", stderr(&o));
    let o = with_socket(&dir.path().join("x".repeat(120)));
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stderr(&o).contains("TEMPI_SOCKET: a Unix socket path is at most 107 bytes"),
        "{}",
        stderr(&o)
    );
    assert!(
        !dir.path().join("token").exists(),
        "a token was made for a socket"
    );
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
    assert_eq!(o.status.code(), Some(3));
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
    assert_eq!(o.status.code(), Some(3));
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
    assert_eq!(o.status.code(), Some(3));
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
        via: None,
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

#[test]
fn exit_codes_are_the_ones_help_lists() {
    let dir = tempfile::tempdir().unwrap();
    let help = tempi(dir.path(), &["--help"]);
    let text = stdout(&help);
    assert!(text.contains("Exit codes:"), "{text}");
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cli");
    let good = fixtures.join("good.yaml");
    let bad = fixtures.join("bad.yaml");
    let cases: [(i32, &[&str]); 4] = [
        (0, &["validate", good.to_str().unwrap()]),
        (1, &["validate", bad.to_str().unwrap()]),
        (2, &["items", "--limit", "0"]),
        (3, &["items"]),
    ];
    for (code, args) in cases {
        let listed = text
            .lines()
            .any(|l| l.trim_start().starts_with(&format!("{code}  ")));
        assert!(listed, "exit code {code} is not in --help:\n{text}");
        let o = tempi(dir.path(), args);
        assert_eq!(o.status.code(), Some(code), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn validate_json_reports_every_problem_with_its_place_and_still_exits_1() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/cli");
    let good = fixtures.join("good.yaml");
    let o = tempi(dir.path(), &["validate", "--json", good.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ok"], true, "{v}");
    assert_eq!(v["workflows"].as_array().map(Vec::len), Some(1), "{v}");
    assert_eq!(v["problems"], serde_json::json!([]), "{v}");

    let bad = fixtures.join("bad.yaml");
    let missing = "/nonexistent/flow.yaml";
    let o = tempi(
        dir.path(),
        &["validate", "--json", bad.to_str().unwrap(), missing],
    );
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert_eq!(stderr(&o), "", "the report is the output");
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["ok"], false, "{v}");
    let problems = v["problems"].as_array().unwrap();
    assert!(problems.len() >= 2, "{v}");
    for p in problems {
        assert!(p["line"].as_u64().is_some_and(|n| n >= 1), "{p}");
        assert!(p["col"].as_u64().is_some_and(|n| n >= 1), "{p}");
        assert!(!p["message"].as_str().unwrap_or("").is_empty(), "{p}");
    }
    let files: Vec<&str> = problems.iter().filter_map(|p| p["file"].as_str()).collect();
    assert!(files.iter().any(|f| f.ends_with("bad.yaml")), "{files:?}");
    assert!(files.contains(&missing), "{files:?}");
}

/// The names of tempi's subcommands, from its own help.
fn subcommands() -> Vec<String> {
    let dir = tempfile::tempdir().unwrap();
    let help = stdout(&tempi(dir.path(), &["--help"]));
    let listed = help
        .split("Commands:\n")
        .nth(1)
        .and_then(|rest| rest.split("\n\n").next())
        .unwrap_or_default();
    let names: Vec<String> = listed
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| *n != "help")
        .map(str::to_string)
        .collect();
    assert!(names.len() > 10, "{help}");
    names
}

fn have(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn completions_load_in_their_shells_and_know_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let commands = subcommands();
    for shell in ["bash", "zsh", "fish"] {
        let o = tempi(dir.path(), &["completions", shell]);
        assert!(o.status.success(), "{shell}: {}", stderr(&o));
        let script = stdout(&o);
        for name in &commands {
            assert!(script.contains(name.as_str()), "{shell}: no {name}");
        }
        let file = dir.path().join(format!("tempi.{shell}"));
        std::fs::write(&file, &script).unwrap();
        if shell == "bash" || have(shell) {
            let o = Command::new(shell).arg("-n").arg(&file).output().unwrap();
            assert!(o.status.success(), "{shell} -n: {}", stderr(&o));
        }
    }
    // Sourced, bash completes `tempi` with it.
    let file = dir.path().join("tempi.bash");
    let o = Command::new("bash")
        .arg("-c")
        .arg(r#"source "$1" && complete -p tempi"#)
        .arg("bash")
        .arg(&file)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stdout(&o).contains("-F _tempi tempi"), "{}", stdout(&o));
    // And it offers the subcommands for `tempi st<TAB>`.
    let o = Command::new("bash")
        .arg("-c")
        .arg(
            r#"source "$1"
            COMP_WORDS=(tempi st); COMP_CWORD=1; COMP_LINE="tempi st"; COMP_POINT=8
            _tempi tempi st tempi; printf '%s\n' "${COMPREPLY[@]}""#,
        )
        .arg("bash")
        .arg(&file)
        .output()
        .unwrap();
    let offered = stdout(&o);
    for name in ["start", "status"] {
        assert!(offered.lines().any(|l| l == name), "{offered}");
    }
    assert!(!offered.lines().any(|l| l == "items"), "{offered}");
}

#[test]
fn man_renders_a_page_for_every_command() {
    let dir = tempfile::tempdir().unwrap();
    let o = tempi(dir.path(), &["man"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let roff = stdout(&o);
    assert!(roff.contains(".TH tempi 1"), "{roff}");
    assert!(roff.contains(".SH \"EXIT STATUS\""), "{roff}");
    for name in subcommands() {
        assert!(
            roff.contains(&format!(".TH tempi-{name} 1")),
            "no page for {name}"
        );
    }
    if have("groff") {
        let mut groff = Command::new("groff")
            .args(["-k", "-man", "-Tutf8", "-ww", "-P-cbou"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        groff
            .stdin
            .take()
            .unwrap()
            .write_all(roff.as_bytes())
            .unwrap();
        let out = groff.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        assert_eq!(stderr(&out), "", "groff warned");
        let text = stdout(&out);
        assert!(text.contains("EXIT STATUS"), "{text}");
        assert!(text.contains("tempi-start"), "{text}");
    }
    let pages = dir.path().join("man1");
    let o = tempi(dir.path(), &["man", "--dir", pages.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "", "pages go to the dir");
    for name in subcommands() {
        let page = std::fs::read_to_string(pages.join(format!("tempi-{name}.1"))).unwrap();
        assert!(page.contains(&format!(".TH tempi-{name} 1")), "{page}");
    }
    let top = std::fs::read_to_string(pages.join("tempi.1")).unwrap();
    assert!(top.contains("EXIT STATUS"), "{top}");
}

/// A task due in an hour; a step that fails; a wait for a signal.
const VERBS: [(&str, &str); 3] = [
    (
        "decide",
        "name: decide\nversion: 1\nsteps:\n  - id: ask\n    kind: human\n    title: Decide\n    group: finance\n    due: 1h\n",
    ),
    (
        "broken",
        "name: broken\nversion: 3\nsteps:\n  - id: fail\n    kind: shell\n    run: [\"false\"]\n  - id: after\n    kind: pass\n    needs: [fail]\n",
    ),
    (
        "waits",
        "name: waits\nversion: 1\nsteps:\n  - id: hold\n    kind: wait\n    signal: go\n",
    ),
];

/// `tempi serve` on loopback over `workflows`, killed when dropped.
struct Serve {
    child: std::process::Child,
    data: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Serve {
    fn start(workflows: &[(&str, &str)]) -> Serve {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let wf = dir.path().join("wf");
        std::fs::create_dir_all(&wf).unwrap();
        for (name, text) in workflows {
            std::fs::write(wf.join(format!("{name}.yaml")), text).unwrap();
        }
        let mut child = Command::new(env!("CARGO_BIN_EXE_tempi"))
            .args(["serve", "--listen", "127.0.0.1:0", "--data"])
            .arg(&data)
            .arg("--workflows")
            .arg(&wf)
            .env_remove("TEMPI_URL")
            .env_remove("TEMPI_TOKEN")
            .env_remove("TEMPI_SOCKET")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        common::wait_up(&mut child, &data);
        Serve {
            child,
            data,
            _dir: dir,
        }
    }

    /// `tempi ARGS --json`, which must succeed and print JSON.
    fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut all = args.to_vec();
        all.push("--json");
        let o = tempi(&self.data, &all);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        serde_json::from_slice(&o.stdout)
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {}", stdout(&o)))
    }

    /// Poll `tempi item ID --json` until its status is `status`.
    fn wait_status(&self, id: u64, status: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        loop {
            let v = self.json(&["item", &id.to_string()]);
            if v["item"]["summary"]["status"] == status {
                return;
            }
            assert!(std::time::Instant::now() < deadline, "never {status}: {v}");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The answer every acting verb gives with `--json`.
fn assert_reply(v: &serde_json::Value, item: u64, task: Option<u64>) {
    assert_eq!(v["item"], item, "{v}");
    assert_eq!(v["task"], serde_json::json!(task), "{v}");
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    assert!(v["seq"].as_u64().is_some_and(|s| s > 0), "{v}");
}

#[test]
fn every_acting_verb_answers_json_and_an_ended_task_says_how_it_ended() {
    let d = Serve::start(&VERBS);
    let started = d.json(&["start", "decide"]);
    assert_reply(&started, 1, None);
    assert_eq!(started["workflow"], "decide", "{started}");
    assert_eq!(started["version"], 1, "{started}");
    d.wait_status(1, "waiting");
    assert_reply(&d.json(&["claim", "1"]), 1, Some(1));
    assert_reply(&d.json(&["reassign", "1", "bob"]), 1, Some(1));
    assert_reply(&d.json(&["escalate", "1", "--to", "leads"]), 1, Some(1));
    assert_reply(&d.json(&["approve", "1", "--comment", "ok"]), 1, Some(1));
    let second = d.json(&["start", "decide", "--priority", "-3"]);
    assert_reply(&second, 2, None);
    d.wait_status(2, "waiting");
    assert_reply(&d.json(&["reject", "2", "--comment", "no"]), 2, Some(2));

    // Decided within the hour: `met` in the text, as `"overdue": false` in the JSON.
    let all = d.json(&["tasks", "--all"]);
    let decided = &all.as_array().unwrap()[0];
    assert_eq!(decided["status"], "decided", "{decided}");
    assert_eq!(decided["overdue"], false, "{decided}");
    let text = stdout(&tempi(&d.data, &["tasks", "--all"]));
    let row = text.lines().nth(1).unwrap_or_default();
    assert!(row.split_whitespace().any(|c| c == "met"), "{text}");
    assert!(!text.contains("breached"), "{text}");

    // The broken workflow's first version loaded is 3: start says so.
    let broken = d.json(&["start", "broken"]);
    assert_reply(&broken, 3, None);
    assert_eq!(
        (&broken["workflow"], &broken["version"]),
        (&"broken".into(), &3.into())
    );
    d.wait_status(3, "incident");
    assert_reply(&d.json(&["retry", "3"]), 3, None);
    d.wait_status(3, "incident");
    assert_reply(
        &d.json(&["skip", "3", "fail", "--reason", "known"]),
        3,
        None,
    );
    for (id, verb) in [(4, "compensate"), (5, "cancel")] {
        assert_reply(&d.json(&["start", "broken"]), id, None);
        d.wait_status(id, "incident");
        assert_reply(&d.json(&[verb, &id.to_string()]), id, None);
    }
    assert_reply(&d.json(&["start", "waits"]), 6, None);
    d.wait_status(6, "waiting");
    assert_reply(
        &d.json(&["signal", "6", "go", "{\"by\": \"ann\"}"]),
        6,
        None,
    );
    d.wait_status(6, "completed");

    // The listings, too.
    assert!(
        d.json(&["items", "--all"])
            .as_array()
            .is_some_and(|a| a.len() == 6)
    );
    assert!(
        d.json(&["audit", "6"])
            .as_array()
            .is_some_and(|a| !a.is_empty())
    );
    assert!(d.json(&["status"])["in_flight"].is_u64());
}

#[test]
fn a_filter_or_start_naming_an_unknown_workflow_is_an_error() {
    let d = Serve::start(&VERBS);
    let loaded = "(loaded: broken, decide, waits)";
    for args in [
        &["items", "--workflow", "nope"][..],
        &["items", "--workflow", "nope", "--all", "--json"],
        &["start", "nope"],
        &["start", "nope", "--json"],
    ] {
        let o = tempi(&d.data, args);
        assert_eq!(o.status.code(), Some(1), "{args:?}");
        assert_eq!(stdout(&o), "", "{args:?}");
        let err = stderr(&o);
        assert_eq!(
            err.trim(),
            format!("error: no workflow nope is loaded {loaded}"),
            "{args:?}"
        );
    }
    // A loaded workflow with nothing in flight is an empty answer, not an error.
    let o = tempi(&d.data, &["items", "--workflow", "decide", "--json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o).trim(), "[]");
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
    assert_eq!(down.status.code(), Some(3));
    assert_eq!(
        stdout(&down),
        "#[fg=red]tempi down#[default]\n",
        "{}",
        stderr(&down)
    );
    let down = tempi(dir.path(), &["status"]);
    assert_eq!(down.status.code(), Some(3));
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
        .env_remove("TEMPI_SOCKET")
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

/// A daemon that takes the request and never answers (the connection breaks): the
/// command may have been applied, so the exit code is 4 and the message says to check.
#[test]
fn a_request_without_an_answer_exits_4_and_says_to_check() {
    use std::io::Read;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        // Read the request, then drop the connection without a word.
        if let Ok((mut conn, _)) = listener.accept() {
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
        }
    });
    let o = tempi_remote(&url, &["start", "invoice-approval"]);
    server.join().unwrap();
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(err.contains("may have been applied"), "{err}");
    assert!(err.contains("before sending it again"), "{err}");
}

#[test]
fn the_audit_of_an_item_that_never_was_is_not_found() {
    let d = Serve::start(&[]);
    let o = tempi(&d.data, &["audit", "999", "--json"]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    assert!(stderr(&o).contains("999"), "{}", stderr(&o));
}
