//! The real console in a real terminal: `tempi demo`, `tempi console` and `tempi attach`
//! run in tmux (a private server per test), driven with send-keys and read back with
//! capture-pane. CI installs tmux; without it these tests fail rather than pass unseen.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_tempi");
/// How long the screen may take to show what a test waits for.
const PATIENCE: Duration = Duration::from_secs(20);

/// A workflow whose one step waits for the finance group.
const EXPENSE: &str = r#"name: expense
version: 1
steps:
  - id: approve
    kind: human
    title: "Approve expense {{ input.n }}"
    group: finance
"#;

/// A task with three options, and one with a form.
const PURCHASE: &str = r#"name: purchase
version: 1
steps:
  - id: triage
    kind: human
    title: "Triage purchase {{ input.n }}"
    group: finance
    options: [approved, rejected, needs_info]
  - id: book
    kind: human
    needs: [triage]
    title: "Book purchase {{ input.n }}"
    group: finance
    form:
      - { name: cost_centre, type: string, required: true }
      - { name: amount, type: number, default: 10 }
"#;

/// A task for finance whose item's SLA warns after 2 s and breaches after 4 s.
const HURRY: &str = r#"name: hurry
version: 1
sla: { due: 4s, warn: [50%] }
steps:
  - id: approve
    kind: human
    title: "Hurry {{ input.n }}"
    group: finance
"#;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Single-quoted for sh.
fn quote(s: impl AsRef<str>) -> String {
    format!("'{}'", s.as_ref().replace('\'', r"'\''"))
}

fn path_arg(p: &Path) -> String {
    quote(p.to_string_lossy())
}

fn require_tmux() {
    let found = Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "tmux is not installed: the console's end-to-end tests drive the real binary in \
         tmux (install it: apt-get install tmux)"
    );
}

/// Poll `ok` every 100 ms until it holds or `PATIENCE` runs out.
fn eventually(ok: impl FnMut() -> bool) -> bool {
    eventually_within(PATIENCE, ok)
}

/// Poll `ok` every 100 ms until it holds or `patience` runs out.
fn eventually_within(patience: Duration, mut ok: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + patience;
    loop {
        if ok() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A private tmux server (its socket in its own temp dir) with one window running
/// `tempi ARGS`; killed when dropped.
struct Tmux {
    socket: PathBuf,
    dir: tempfile::TempDir,
}

impl Tmux {
    /// Run `tempi ARGS` (already quoted for sh) in a `width`×`height` window from the repo
    /// root, with HOME, XDG_CONFIG_HOME and TMPDIR in a private temp dir so no user
    /// config is read and nothing is left behind. The process's pid goes to `pid`, its
    /// exit code to `exit`, and the pane stays open afterwards so the terminal's state
    /// can be read.
    fn start(width: u16, height: u16, args: &str) -> Tmux {
        require_tmux();
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("tmux");
        let home = dir.path().join("home");
        std::fs::create_dir_all(home.join("tmp")).unwrap();
        let script = dir.path().join("run.sh");
        let pid = path_arg(&dir.path().join("pid"));
        let exit = path_arg(&dir.path().join("exit"));
        let text = format!(
            "sh -c 'echo $$ > \"$1\"; shift; exec \"$@\"' sh {pid} {} {args}\n\
             echo \"EXIT=$?\" > {exit}\n\
             exec sleep 600\n",
            quote(BIN)
        );
        std::fs::write(&script, text).unwrap();
        let tmux = Tmux { socket, dir };
        let o = Command::new("tmux")
            .arg("-S")
            .arg(&tmux.socket)
            .args(["-f", "/dev/null", "new-session", "-d"])
            .args([
                "-s",
                "s",
                "-x",
                &width.to_string(),
                "-y",
                &height.to_string(),
            ])
            .arg("-c")
            .arg(repo())
            .arg(format!("sh {}", path_arg(&script)))
            .env_remove("TMUX")
            .env_remove("TEMPI_URL")
            .env_remove("TEMPI_TOKEN")
            .env_remove("TEMPI_SOCKET")
            .env_remove("TEMPI_DATA")
            .env_remove("TEMPI_WORKFLOWS")
            .env_remove("TEMPI_USER")
            .env_remove("TEMPI_GROUPS")
            .env_remove("NO_COLOR")
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("XDG_STATE_HOME", home.join(".local/state"))
            .env("TMPDIR", home.join("tmp"))
            .env("TERM", "xterm-256color")
            .output()
            .unwrap();
        assert!(
            o.status.success(),
            "tmux new-session failed: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        tmux
    }

    /// The HOME the console ran with.
    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    fn tmux(&self, args: &[&str]) -> String {
        let o = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.tmux(&["capture-pane", "-p", "-t", "s"])
    }

    /// A tmux format of the pane, e.g. `#{alternate_on}`.
    fn display(&self, format: &str) -> String {
        self.tmux(&["display-message", "-p", "-t", "s", format])
            .trim()
            .to_string()
    }

    /// Keys by tmux's names (`q`, `Tab`, `Enter`); other text is typed as is.
    fn keys(&self, keys: &[&str]) {
        let mut args = vec!["send-keys", "-t", "s"];
        args.extend(keys);
        self.tmux(&args);
    }

    /// Poll the screen until `ok` holds; the last screen otherwise, in the panic.
    fn wait_for(&self, what: &str, ok: impl Fn(&str) -> bool) -> String {
        self.wait_within(PATIENCE, what, ok)
    }

    /// [`Tmux::wait_for`] with its own patience.
    fn wait_within(&self, patience: Duration, what: &str, ok: impl Fn(&str) -> bool) -> String {
        let mut screen = String::new();
        if eventually_within(patience, || {
            screen = self.screen();
            ok(&screen)
        }) {
            return screen;
        }
        panic!("timed out waiting for {what}; the screen:\n{screen}");
    }

    /// The console's process id.
    fn pid(&self) -> i32 {
        let path = self.dir.path().join("pid");
        let mut pid = None;
        assert!(
            eventually(|| {
                pid = std::fs::read_to_string(&path)
                    .ok()
                    .and_then(|t| t.trim().parse().ok());
                pid.is_some()
            }),
            "the console's pid never appeared"
        );
        pid.unwrap_or_default()
    }

    /// Wait for the console to exit; its exit code.
    fn wait_exit(&self) -> i32 {
        let path = self.dir.path().join("exit");
        let mut code = None;
        let exited = eventually(|| {
            code = std::fs::read_to_string(&path)
                .ok()
                .and_then(|t| t.trim().strip_prefix("EXIT=")?.parse().ok());
            code.is_some()
        });
        assert!(
            exited,
            "the console did not exit; the screen:\n{}",
            self.screen()
        );
        code.unwrap_or_default()
    }

    /// The terminal after the console has gone: main screen, cursor shown, no leftovers.
    fn assert_restored(&self) {
        let screen = self.screen();
        assert_eq!(
            self.display("#{alternate_on}"),
            "0",
            "still in the alternate screen after exit:\n{screen}"
        );
        assert_eq!(
            self.display("#{cursor_flag}"),
            "1",
            "the cursor is still hidden after exit"
        );
        assert!(
            !screen.contains("in flight"),
            "the console's frame is still on the main screen:\n{screen}"
        );
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .arg("-S")
            .arg(&self.socket)
            .arg("kill-server")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// `tempi demo --seed 7` in tmux, up and showing work.
fn demo() -> Tmux {
    let wf = path_arg(&repo().join("workflows"));
    let tmux = Tmux::start(200, 50, &format!("--workflows {wf} demo --seed 7"));
    tmux.wait_for("the demo's header and inbox", |s| {
        s.contains("in flight") && s.contains("Approve invoice")
    });
    assert_eq!(tmux.display("#{alternate_on}"), "1");
    tmux
}

/// `tempi serve` on loopback as a child process, killed when dropped.
struct Daemon {
    child: Child,
    data: PathBuf,
    url: String,
    _tmp: tempfile::TempDir,
}

impl Daemon {
    fn start() -> Daemon {
        let tmp = tempfile::tempdir().unwrap();
        let data = tmp.path().join("data");
        let wf = tmp.path().join("wf");
        std::fs::create_dir_all(&wf).unwrap();
        std::fs::write(wf.join("expense.yaml"), EXPENSE).unwrap();
        std::fs::write(wf.join("purchase.yaml"), PURCHASE).unwrap();
        std::fs::write(wf.join("hurry.yaml"), HURRY).unwrap();
        let mut child = Command::new(BIN)
            .arg("--data")
            .arg(&data)
            .args(["serve", "--listen", "127.0.0.1:0", "--workflows"])
            .arg(&wf)
            .env_remove("TEMPI_URL")
            .env_remove("TEMPI_TOKEN")
            .env_remove("TEMPI_SOCKET")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let mut url = None;
        let up = eventually(|| {
            let info = std::fs::read_to_string(data.join("daemon.json")).ok();
            let info: Option<Value> = info.and_then(|t| serde_json::from_str(&t).ok());
            url = info
                .filter(|i| i["pid"] == child.id())
                .and_then(|i| Some(i["url"].as_str()?.to_string()));
            url.is_some() || child.try_wait().is_ok_and(|s| s.is_some())
        });
        let Some(url) = url.filter(|_| up) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the daemon did not come up");
        };
        Daemon {
            child,
            data,
            url,
            _tmp: tmp,
        }
    }

    fn cli(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .arg("--data")
            .arg(&self.data)
            .args(args)
            .env_remove("TEMPI_URL")
            .env_remove("TEMPI_TOKEN")
            .env_remove("TEMPI_SOCKET")
            .env("TEMPI_USER", "tester")
            .output()
            .unwrap()
    }

    /// Start an expense item; its task is open once this returns.
    fn expense(&self, n: u32) {
        let input = format!(r#"{{"n": {n}}}"#);
        let o = self.cli(&["start", "expense", "--input", &input]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(
            eventually(|| self.open_tasks().len() == 1),
            "the expense's task never opened"
        );
    }

    fn open_tasks(&self) -> Vec<Value> {
        let o = self.cli(&["tasks", "--json"]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        let v: Value = serde_json::from_slice(&o.stdout).unwrap();
        v.as_array().cloned().unwrap_or_default()
    }

    /// `tempi --data D --as USER ARGS attach` in tmux, showing the expense.
    fn attach(&self, user: &str, args: &str) -> Tmux {
        let data = path_arg(&self.data);
        let cmd = format!("--data {data} --as {user} attach {args}");
        let tmux = Tmux::start(200, 50, &cmd);
        tmux.wait_for("the expense in the inbox", |s| {
            s.contains("Approve expense 7")
        });
        tmux
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn demo_starts_and_quits_cleanly() {
    let tmux = demo();
    tmux.keys(&["q"]);
    tmux.wait_for("the demo asking first", |s| s.contains("Quit the demo?"));
    tmux.keys(&["n"]);
    tmux.wait_for("the demo going on", |s| !s.contains("Quit the demo?"));
    tmux.keys(&[":item 1", "Enter"]);
    tmux.keys(&["q", "y"]);
    assert_eq!(tmux.wait_exit(), 0, "{}", tmux.screen());
    let history = tmux.home().join(".local/state/tempi/history");
    let kept = std::fs::read_to_string(&history).unwrap_or_default();
    assert_eq!(
        kept, "item 1\n",
        "the command line is kept for the next session"
    );
    tmux.assert_restored();
}

/// `--data` names a new or empty dir for the demo (never one with data in it); what
/// the demo writes there is private and stays when it quits.
#[test]
fn the_demo_runs_in_a_given_empty_dir_and_keeps_it_private() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let full = tmp.path().join("full");
    std::fs::create_dir(&full).expect("dir");
    std::fs::write(full.join("tempi.db"), "a real journal").expect("file");
    let refused = Command::new(BIN)
        .args(["--data", &full.to_string_lossy(), "demo"])
        .output()
        .expect("tempi runs");
    assert_eq!(refused.status.code(), Some(1));
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("is not empty"), "{said}");

    let dir = tmp.path().join("demo");
    let wf = path_arg(&repo().join("workflows"));
    let tmux = Tmux::start(
        200,
        50,
        &format!("--workflows {wf} --data {} demo --seed 7", path_arg(&dir)),
    );
    tmux.wait_for("the demo's inbox", |s| s.contains("Approve invoice"));
    tmux.keys(&["q", "y"]);
    assert_eq!(tmux.wait_exit(), 0, "{}", tmux.screen());
    let mut files = 0;
    let mut dirs = vec![dir.clone()];
    while let Some(d) = dirs.pop() {
        for entry in std::fs::read_dir(&d).expect("kept") {
            let path = entry.expect("entry").path();
            let meta = std::fs::symlink_metadata(&path).expect("meta");
            let mode = std::os::unix::fs::PermissionsExt::mode(&meta.permissions());
            assert_eq!(mode & 0o077, 0, "{} is {mode:o}", path.display());
            match meta.is_dir() {
                true => dirs.push(path),
                false => files += 1,
            }
        }
    }
    assert!(files > 3, "the journal, logs and staged workflows are kept");
}

/// The number after `label` in the header (`at risk 3`), if shown.
fn header_count(screen: &str, label: &str) -> Option<u64> {
    let rest = &screen[screen.find(label)? + label.len()..];
    let digits: String = rest
        .trim_start()
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.parse().ok()
}

#[test]
fn the_demo_is_under_sla_pressure_in_its_first_minute() {
    let tmux = demo();
    let count = |s: &str, label| header_count(s, label).unwrap_or(0);
    let first = tmux.wait_for("at-risk and breached items in the header", |s| {
        count(s, "at risk") > 0 && count(s, "breached") > 0
    });
    tmux.wait_for("the SLA board showing every state", |s| {
        ["at risk", "critical", "BREACHED"]
            .iter()
            .all(|state| s.lines().any(|l| l.contains('%') && l.contains(state)))
    });
    // The seeded past has items seconds from their deadline: one breaches live.
    let before = count(&first, "breached");
    let moving = Duration::from_secs(60);
    tmux.wait_within(moving, "a breach within the first minute", |s| {
        count(s, "breached") > before
    });
}

/// `y` sends OSC 52; tmux, told to take the clipboard from applications, keeps what was
/// copied in its paste buffer, as a terminal over SSH would on its clipboard.
#[test]
fn y_copies_the_selected_item_id_through_osc_52() {
    let tmux = demo();
    tmux.tmux(&["set-option", "-g", "set-clipboard", "on"]);
    tmux.keys(&["y"]);
    let screen = tmux.wait_for("the copy toast", |s| s.contains("copied item id"));
    let id: String = screen
        .split("copied item id ")
        .nth(1)
        .map(|rest| rest.chars().take_while(char::is_ascii_digit).collect())
        .unwrap_or_default();
    assert!(!id.is_empty(), "{screen}");
    let mut buffer = String::new();
    assert!(
        eventually(|| {
            buffer = tmux.tmux(&["show-buffer"]);
            buffer.trim() == id
        }),
        "tmux's buffer holds {buffer:?}, not item id {id}"
    );
}

#[test]
fn sigterm_and_sighup_restore_the_terminal() {
    // Both at once: each demo spends most of its time starting.
    let runs: Vec<_> = [(libc::SIGTERM, "term"), (libc::SIGHUP, "hup")]
        .into_iter()
        .map(|(sig, name)| {
            std::thread::spawn(move || {
                let tmux = demo();
                assert_eq!(unsafe { libc::kill(tmux.pid(), sig) }, 0);
                assert_eq!(tmux.wait_exit(), 0, "{name}: {}", tmux.screen());
                tmux.assert_restored();
            })
        })
        .collect();
    for run in runs {
        run.join().unwrap();
    }
}

#[test]
fn two_consoles_on_one_daemon_see_each_others_actions() {
    let daemon = Daemon::start();
    daemon.expense(7);
    let alice = daemon.attach("alice", "--groups finance");
    let bob = daemon.attach("bob", "");
    alice.keys(&[":inbox", "Enter"]);
    alice.wait_for("the inbox focused", |s| s.contains("┏ Inbox"));
    alice.keys(&["a"]);
    alice.wait_for("a toast saying the task was approved", |s| {
        s.contains("✓ task 1 approved")
    });
    bob.wait_for("the item completed and the task gone", |s| {
        s.contains("open tasks 0") && s.contains("completed 1") && s.contains("No open tasks")
    });
    assert!(daemon.open_tasks().is_empty());
    drop(daemon);
    bob.wait_for("the lost connection", |s| s.contains('✖'));
}

#[test]
fn a_opens_the_option_picker_and_enter_decides_the_one_chosen() {
    let daemon = Daemon::start();
    let o = daemon.cli(&["start", "purchase", "--input", r#"{"n": 3}"#]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(eventually(|| daemon.open_tasks().len() == 1));
    let data = path_arg(&daemon.data);
    let tmux = Tmux::start(200, 50, &format!("--data {data} --as alice attach"));
    tmux.wait_for("the task in the inbox", |s| s.contains("Triage purchase 3"));
    tmux.keys(&["3"]);
    tmux.wait_for("the inbox focused", |s| s.contains("┏ Inbox"));
    tmux.keys(&["a"]);
    let s = tmux.wait_for("the picker", |s| {
        s.contains("Decide task 1") && s.contains("needs_info")
    });
    let row = |o: &str| s.lines().position(|l| l.contains(&format!("║ {o} ")));
    assert!(
        row("approved") < row("rejected") && row("rejected") < row("needs_info"),
        "the options in declared order:\n{s}"
    );
    assert!(
        daemon.open_tasks().len() == 1,
        "opening the picker decided nothing"
    );
    tmux.keys(&["j", "j", "Enter"]);
    tmux.wait_for("the decision's toast", |s| {
        s.contains("✓ task 1 needs_info")
    });
    let o = daemon.cli(&["tasks", "--all", "--json"]);
    let tasks: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(tasks[0]["decision"], "needs_info", "{tasks}");
}

#[test]
fn approve_fills_a_form_with_field_and_the_engine_checks_it() {
    let daemon = Daemon::start();
    let o = daemon.cli(&["start", "purchase", "--input", r#"{"n": 4}"#]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(eventually(|| daemon.open_tasks().len() == 1));
    let o = daemon.cli(&["approve", "1"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert!(eventually(|| daemon
        .open_tasks()
        .first()
        .is_some_and(|t| t["id"] == 2)));
    let form = &daemon.open_tasks()[0]["form"];
    assert_eq!(form[0]["name"], "cost_centre", "{form}");
    assert_eq!(form[0]["required"], true, "{form}");

    let refused = daemon.cli(&["approve", "2", "--field", "amount=lots"]);
    let err = String::from_utf8_lossy(&refused.stderr).into_owned();
    assert_eq!(refused.status.code(), Some(1), "{err}");
    assert!(err.contains("field 'amount' must be a number"), "{err}");
    let refused = daemon.cli(&["approve", "2", "--field", "amount=12"]);
    let err = String::from_utf8_lossy(&refused.stderr).into_owned();
    assert!(err.contains("field 'cost_centre' is required"), "{err}");
    let bad = daemon.cli(&["approve", "2", "--field", "amount"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("must be NAME=VALUE"));
    assert_eq!(
        daemon.open_tasks().len(),
        1,
        "every refusal changed nothing"
    );

    let o = daemon.cli(&[
        "approve",
        "2",
        "--field",
        "cost_centre=CC-7",
        "--field",
        "amount=12.5",
    ]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let o = daemon.cli(&["item", "1", "--json"]);
    let item: Value = serde_json::from_slice(&o.stdout).unwrap();
    let book = item["item"]["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["id"] == "book"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        book["output"]["fields"],
        serde_json::json!({"cost_centre": "CC-7", "amount": 12.5}),
        "{item}"
    );
}

#[test]
fn attach_to_nothing_is_a_clear_message() {
    // Exit 3: no daemon to ask; 1: one that answered and refused.
    let attach = |data: &Path, args: &[&str], code: i32| {
        let o = Command::new(BIN)
            .arg("--data")
            .arg(data)
            .arg("attach")
            .args(args)
            .env_remove("TEMPI_URL")
            .env_remove("TEMPI_TOKEN")
            .env_remove("TEMPI_SOCKET")
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr).into_owned();
        assert_eq!(o.status.code(), Some(code), "{args:?}: {err}");
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert!(
            !String::from_utf8_lossy(&o.stdout).contains("\x1b[?1049h"),
            "{args:?}: took over the screen"
        );
        err
    };
    let empty = tempfile::tempdir().unwrap();
    let err = attach(empty.path(), &[], 3);
    assert!(err.contains("no tempi daemon is running"), "{err}");

    let err = attach(empty.path(), &["http://127.0.0.1:9", "--token", "x"], 3);
    assert!(err.contains("cannot reach"), "{err}");

    let daemon = Daemon::start();
    let err = attach(empty.path(), &[&daemon.url, "--token", "wrong"], 1);
    assert!(err.contains("token"), "{err}");
}

#[test]
fn read_only_refuses_actions() {
    let daemon = Daemon::start();
    daemon.expense(7);
    let tmux = daemon.attach("carol", "--read-only");
    tmux.keys(&[":inbox", "Enter"]);
    tmux.wait_for("the inbox focused", |s| s.contains("┏ Inbox"));
    tmux.keys(&["a"]);
    tmux.wait_for("the refusal", |s| s.contains("✗ read-only"));
    let open = daemon.open_tasks();
    assert_eq!(open.len(), 1, "{open:?}");
    assert_eq!(open[0]["status"], "open", "{open:?}");
}

#[test]
fn too_small_terminal_says_so() {
    let data = tempfile::tempdir().unwrap();
    let wf = path_arg(&repo().join("workflows"));
    let args = format!("--data {} --workflows {wf} console", path_arg(data.path()));
    let tmux = Tmux::start(50, 12, &args);
    tmux.wait_for("the size message", |s| s.contains("needs at least"));
    tmux.keys(&["q"]);
    assert_eq!(tmux.wait_exit(), 0, "{}", tmux.screen());
    tmux.assert_restored();
}

#[test]
fn a_breach_rings_the_bell() {
    let daemon = Daemon::start();
    let data = path_arg(&daemon.data);
    let tmux = Tmux::start(
        200,
        50,
        &format!("--data {data} --as alice attach --groups finance"),
    );
    let args = format!("--data {data} --as alice attach --groups finance --notify off");
    let quiet = Tmux::start(200, 50, &args);
    tmux.wait_for("the console", |s| s.contains("in flight"));
    quiet.wait_for("the quiet console", |s| s.contains("in flight"));
    assert_eq!(tmux.display("#{window_bell_flag}"), "0", "no bell before");
    let o = daemon.cli(&["start", "hurry", "--input", r#"{"n": 1}"#]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    tmux.wait_for("the item at risk or breached", |s| {
        s.contains("Hurry 1") && (s.contains("at risk 1") || s.contains("breached 1"))
    });
    assert!(
        eventually(|| tmux.display("#{window_bell_flag}") == "1"),
        "the bell never rang; the screen:\n{}",
        tmux.screen()
    );
    let screen = tmux.screen();
    assert!(
        !screen.contains("]9;") && !screen.contains("777;"),
        "the notification leaked onto the screen:\n{screen}"
    );
    quiet.wait_for("the breach", |s| s.contains("breached 1"));
    assert_eq!(
        quiet.display("#{window_bell_flag}"),
        "0",
        "--notify off rings no bell"
    );
}

/// Inside tmux (escape-time 500 ms by default) or over a slow SSH link, Esc and the key
/// typed right after it reach the console as one read, `ESC :`, which crossterm reads
/// as alt-: . The console drops that key, so the command the operator goes on to type
/// runs key by key in the pane instead: `:task 5` presses `t`, `a` (approve, one key on
/// an approve/reject task), `s`, `k`. Found by the hostile test of issue 10.
#[test]
fn esc_then_colon_in_one_read_opens_the_command_line_and_decides_nothing() {
    let daemon = Daemon::start();
    daemon.expense(7);
    let tmux = daemon.attach("alice", "--groups finance --notify off");
    tmux.keys(&["3"]);
    tmux.wait_for("the inbox focused", |s| s.contains("┏ Inbox"));
    // One send-keys call: the two keys arrive in one write, as tmux forwards them.
    tmux.keys(&["Escape", ":"]);
    tmux.keys(&["-l", "task 5"]);
    tmux.keys(&["Enter"]);
    // The command line ran `:task 5` (no such task is open): its answer is the proof
    // that no key reached the pane.
    tmux.wait_for("the command's answer", |s| s.contains("task 5 is not open"));
    assert_eq!(
        daemon.open_tasks().len(),
        1,
        "typing a command after Esc decided the selected task; the screen:\n{}",
        tmux.screen()
    );
}
