//! Every command in the README runs: each line of its ```sh blocks that calls `tempi` is
//! run by bash (with `tempi` the binary under test) against a daemon of its own, in order,
//! and must exit as its comment says (`# exits N`; 0 otherwise). The consoles (`demo`,
//! `console`, `attach`) run in tmux until their header shows, then quit with `:q`.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;

mod common;

const BIN: &str = env!("CARGO_BIN_EXE_tempi");

/// How long one command may run, and a console may take to show its header.
const PATIENCE: Duration = Duration::from_secs(60);

/// Minutes-long measurements on purpose (their numbers are the README's Performance
/// section): parsed, not run.
const MEASUREMENTS: [&str; 1] = ["bench"];

/// Consoles: they take the terminal until told to quit.
const CONSOLES: [&str; 3] = ["demo", "console", "attach"];

/// What every README line runs after: `tempi` is the binary under test.
const PRELUDE: &str = "set -o pipefail\ntempi() { \"$TEMPI_BIN\" \"$@\"; }\n";

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// One README line that calls `tempi`.
#[derive(Debug)]
struct Line {
    /// The shell text, without its comment.
    text: String,
    /// The exit code its comment promises.
    exits: i32,
    /// The arguments of each `tempi` it calls, as bash splits them.
    calls: Vec<Vec<String>>,
}

impl Line {
    /// The subcommand of its first `tempi` call.
    fn verb(&self) -> &str {
        let args = &self.calls[0];
        let mut words = args.iter();
        while let Some(w) = words.next() {
            match w.as_str() {
                "--data" | "--workflows" | "--as" => {
                    words.next();
                }
                w if w.starts_with('-') => {}
                w => return w,
            }
        }
        ""
    }
}

/// The comment of a shell line: from a `#` that starts a word outside quotes.
fn split_comment(line: &str) -> (&str, &str) {
    let (mut single, mut double, mut prev) = (false, false, ' ');
    for (i, c) in line.char_indices() {
        match c {
            '\'' if !double => single = !single,
            '"' if !single && prev != '\\' => double = !double,
            '#' if !single && !double && prev.is_whitespace() => {
                return (line[..i].trim_end(), line[i + 1..].trim());
            }
            _ => {}
        }
        prev = c;
    }
    (line.trim_end(), "")
}

/// `exits N` in a comment.
fn promised_exit(comment: &str) -> i32 {
    let mut words = comment.split_whitespace();
    while let Some(w) = words.next() {
        if w == "exits" {
            let n = words.next().unwrap_or_default();
            let n = n.trim_end_matches(|c: char| !c.is_ascii_digit());
            return n
                .parse()
                .unwrap_or_else(|_| panic!("`exits {n}`: not a code"));
        }
    }
    0
}

/// The lines of the README's ```sh blocks that call `tempi` (not the alias that defines
/// it, nor the `cargo` lines of the first block).
fn readme_lines() -> Vec<(usize, String, String)> {
    let text = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let mut out = Vec::new();
    let mut in_sh = false;
    for (n, line) in text.lines().enumerate() {
        let fence = line.trim_start();
        if let Some(info) = fence.strip_prefix("```") {
            in_sh = !in_sh && matches!(info.trim(), "sh" | "bash" | "shell");
            continue;
        }
        if !in_sh {
            continue;
        }
        let (code, comment) = split_comment(line);
        let calls_tempi = code
            .split(|c: char| c.is_whitespace() || "(|;&".contains(c))
            .any(|w| w == "tempi");
        if calls_tempi && !code.starts_with("alias ") {
            out.push((n + 1, code.to_string(), comment.to_string()));
        }
    }
    out
}

/// A private place to run commands: a temp dir with links to the repository's files (so
/// `workflows/` resolves and anything a command writes lands in the temp dir), a HOME
/// and a TMPDIR.
struct Place {
    dir: tempfile::TempDir,
}

impl Place {
    fn new() -> Place {
        let dir = tempfile::tempdir().unwrap();
        let cwd = dir.path().join("repo");
        std::fs::create_dir_all(&cwd).unwrap();
        for entry in std::fs::read_dir(repo()).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name();
            if name != "target" && name != ".git" {
                std::os::unix::fs::symlink(entry.path(), cwd.join(&name)).unwrap();
            }
        }
        for d in [
            "home/tmp",
            "home/.config",
            "home/.local/state",
            "data",
            "console",
        ] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        Place { dir }
    }

    fn cwd(&self) -> PathBuf {
        self.dir.path().join("repo")
    }

    fn home(&self) -> PathBuf {
        self.dir.path().join("home")
    }

    /// The daemon's data dir, which every command but `demo` and `console` uses.
    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// bash running `script` with `tempi` the binary under test, in [`Place::env`].
    fn bash(&self, script: &str, data: Option<&Path>) -> Command {
        let mut cmd = Command::new("bash");
        cmd.arg("-c").arg(format!("{PRELUDE}{script}"));
        self.env(&mut cmd, data);
        cmd
    }

    /// The place's cwd and environment; `data` as TEMPI_DATA (none: the default, as for
    /// `demo`).
    fn env(&self, cmd: &mut Command, data: Option<&Path>) {
        cmd.current_dir(self.cwd())
            .env("TEMPI_BIN", BIN)
            .env("HOME", self.home())
            .env("XDG_CONFIG_HOME", self.home().join(".config"))
            .env("XDG_STATE_HOME", self.home().join(".local/state"))
            .env("XDG_DATA_HOME", self.home().join(".local/share"))
            .env("TMPDIR", self.home().join("tmp"))
            .env("TEMPI_USER", "readme")
            .env("MANWIDTH", "80")
            .env("TERM", "xterm-256color");
        for name in [
            "TEMPI_URL",
            "TEMPI_TOKEN",
            "TEMPI_SOCKET",
            "TEMPI_WORKFLOWS",
            "TEMPI_GROUPS",
        ] {
            cmd.env_remove(name);
        }
        cmd.env_remove("NO_COLOR").env_remove("TMUX");
        match data {
            Some(d) => cmd.env("TEMPI_DATA", d),
            None => cmd.env_remove("TEMPI_DATA"),
        };
    }

    /// The arguments of every `tempi` call in `text`, as bash splits them (the calls
    /// only record their arguments).
    fn calls(&self, text: &str) -> Vec<Vec<String>> {
        let record = self.dir.path().join("calls");
        let _ = std::fs::remove_file(&record);
        let script = format!(
            "tempi() {{ printf '%s\\0' \"$@\" >> \"$RECORD\"; printf '\\n' >> \"$RECORD\"; }}\n{text}"
        );
        let o = self
            .bash(&script, Some(&self.data()))
            .env("RECORD", &record)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        let recorded = std::fs::read(&record).unwrap_or_default();
        let calls: Vec<Vec<String>> = recorded
            .split(|b| *b == b'\n')
            .filter(|c| !c.is_empty())
            .map(|call| {
                call.split(|b| *b == 0)
                    .filter(|a| !a.is_empty())
                    .map(|a| String::from_utf8_lossy(a).into_owned())
                    .collect()
            })
            .collect();
        assert!(
            !calls.is_empty(),
            "{text}: no tempi call ({})",
            String::from_utf8_lossy(&o.stderr)
        );
        calls
    }
}

/// Run `cmd` for at most `PATIENCE`.
fn run(mut cmd: Command, what: &str) -> Output {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + PATIENCE;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{what}: still running after {PATIENCE:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

/// The README's daemon, killed when dropped.
struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Wait until no item is running a step (what a person reads before typing the next
/// command), at most 10 s.
fn settle(place: &Place) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        let o = Command::new(BIN)
            .args(["items", "--json"])
            .env("TEMPI_DATA", place.data())
            .env_remove("TEMPI_URL")
            .env_remove("TEMPI_TOKEN")
            .env_remove("TEMPI_SOCKET")
            .output()
            .unwrap();
        let items: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap_or_default();
        let busy = items
            .as_array()
            .is_some_and(|a| a.iter().any(|i| i["status"] == "running"));
        if o.status.success() && !busy {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A console line in tmux: wait for its header, quit with `:q`, and give its exit code.
fn run_console(place: &Place, line: &Line, data: Option<&Path>) -> i32 {
    let tmux_dir = tempfile::tempdir().unwrap();
    let socket = tmux_dir.path().join("tmux");
    let exit = tmux_dir.path().join("exit");
    let script = tmux_dir.path().join("run.sh");
    let done = format!("echo \"EXIT=$?\" > '{}'", exit.display());
    let text = format!("{PRELUDE}{}\n{done}\nexec sleep 600\n", line.text);
    std::fs::write(&script, text).unwrap();
    let mut start = Command::new("tmux");
    start.arg("-S").arg(&socket);
    start.args([
        "-f",
        "/dev/null",
        "new-session",
        "-d",
        "-s",
        "s",
        "-x",
        "200",
        "-y",
        "50",
    ]);
    start.arg(format!("bash '{}'", script.display()));
    place.env(&mut start, data);
    let o = run(start, &line.text);
    assert!(
        o.status.success(),
        "{}: tmux: {}",
        line.text,
        String::from_utf8_lossy(&o.stderr)
    );
    let tmux = |args: &[&str]| {
        let o = Command::new("tmux")
            .arg("-S")
            .arg(&socket)
            .args(args)
            .output()
            .unwrap();
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    let deadline = Instant::now() + PATIENCE;
    let mut screen = String::new();
    while !screen.contains("in flight") {
        assert!(
            Instant::now() < deadline,
            "{}: no console header; the screen:\n{screen}",
            line.text
        );
        std::thread::sleep(Duration::from_millis(100));
        screen = tmux(&["capture-pane", "-p", "-t", "s"]);
    }
    tmux(&["send-keys", "-t", "s", ":q", "Enter"]);
    let mut code = None;
    while code.is_none() {
        assert!(
            Instant::now() < deadline,
            "{}: did not quit on :q; the screen:\n{}",
            line.text,
            tmux(&["capture-pane", "-p", "-t", "s"])
        );
        std::thread::sleep(Duration::from_millis(100));
        code = std::fs::read_to_string(&exit)
            .ok()
            .and_then(|t| t.trim().strip_prefix("EXIT=")?.parse().ok());
    }
    tmux(&["kill-server"]);
    code.unwrap_or(-1)
}

#[test]
fn every_command_in_the_readme_runs_as_it_says() {
    let place = Place::new();
    let lines: Vec<Line> = readme_lines()
        .into_iter()
        .map(|(n, text, comment)| {
            let calls = place.calls(&text);
            let exits = promised_exit(&comment);
            // Every call parses, run or not (a usage error is exit 2, never promised here).
            for call in &calls {
                let argv = std::iter::once("tempi".to_string()).chain(call.iter().cloned());
                if let Err(e) = tempi::cli::Cli::try_parse_from(argv) {
                    panic!("README.md:{n}: {text}: {e}");
                }
            }
            Line { text, exits, calls }
        })
        .collect();
    let verbs: Vec<&str> = lines.iter().map(Line::verb).collect();
    for needed in ["serve", "start", "items", "demo", "console", "attach"] {
        assert!(
            verbs.contains(&needed),
            "no `tempi {needed}` found in {verbs:?}"
        );
    }

    // The daemon first, as the README's reader starts it in a terminal of its own; on a
    // free port, so tests beside it do not collide.
    let serve = lines.iter().find(|l| l.verb() == "serve").unwrap();
    // exec, so the daemon is the child whose pid daemon.json names.
    let args = serve
        .text
        .strip_prefix("tempi ")
        .expect("serve on a line of its own");
    let mut child = place
        .bash(
            &format!("exec \"$TEMPI_BIN\" {args} --listen 127.0.0.1:0"),
            Some(&place.data()),
        )
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let up = common::wait_up(&mut child, &place.data());
    let _daemon = Daemon(child);
    assert!(up.url.starts_with("http://127.0.0.1:") && !up.token.is_empty());

    let mut ran = 0;
    for line in lines.iter().filter(|l| l.verb() != "serve") {
        let verb = line.verb();
        if MEASUREMENTS.contains(&verb) {
            continue;
        }
        let code = if CONSOLES.contains(&verb) {
            // demo takes a temporary dir of its own; console an engine of its own.
            let data = match verb {
                "demo" => None,
                "console" => Some(place.dir.path().join("console")),
                _ => Some(place.data()),
            };
            run_console(&place, line, data.as_deref())
        } else {
            let o = run(place.bash(&line.text, Some(&place.data())), &line.text);
            let code = o.status.code().unwrap_or(-1);
            assert_eq!(
                code,
                line.exits,
                "{}\nstdout:\n{}\nstderr:\n{}",
                line.text,
                String::from_utf8_lossy(&o.stdout),
                String::from_utf8_lossy(&o.stderr)
            );
            settle(&place);
            code
        };
        assert_eq!(code, line.exits, "{}", line.text);
        eprintln!("ran, exit {code}: {}", line.text);
        ran += 1;
    }
    assert!(ran >= 15, "only {ran} README commands ran");
}

#[test]
fn comments_and_exit_promises_are_read_as_a_shell_would() {
    assert_eq!(
        split_comment(r##"tempi start w --input '{"a": "#1"}'  # why"##),
        (r##"tempi start w --input '{"a": "#1"}'"##, "why")
    );
    assert_eq!(split_comment("tempi items#x"), ("tempi items#x", ""));
    assert_eq!(promised_exit("exits 1: no workflow nope"), 1);
    assert_eq!(promised_exit("ended items too"), 0);
}
