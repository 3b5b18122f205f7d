//! `tempi deploy` and `tempi workflows` against a real `tempi serve`: a new version is
//! live while a running item stays on its old one, a broken file among good ones changes
//! nothing, a changed version is refused, the same content is a no-op, and the
//! deployment survives a crash and a clean restart, the `--workflows` dir left as it was.

mod common;

use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

fn flow(name: &str, version: u32, wait: &str) -> String {
    format!(
        "name: {name}\nversion: {version}\nsteps:\n  - id: w\n    kind: wait\n    duration: {wait}\n"
    )
}

struct Daemon {
    child: Child,
    data: PathBuf,
    wf: PathBuf,
    up: common::Up,
}

fn serve(data: &Path, wf: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tempi"));
    cmd.args(["serve", "--listen", "127.0.0.1:0", "--data"])
        .arg(data)
        .arg("--workflows")
        .arg(wf)
        .env_remove("TEMPI_URL")
        .env_remove("TEMPI_TOKEN")
        .env_remove("TEMPI_SOCKET");
    cmd
}

impl Daemon {
    fn start(data: PathBuf, wf: PathBuf) -> Daemon {
        let mut child = serve(&data, &wf)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let up = common::wait_up(&mut child, &data);
        Daemon {
            child,
            data,
            wf,
            up,
        }
    }

    /// Stop with `sig` and start again on the same data and workflows dir.
    fn restart(mut self, sig: i32) -> Daemon {
        let pid = i32::try_from(self.child.id()).unwrap();
        assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
        self.child.wait().unwrap();
        let (data, wf) = (self.data.clone(), self.wf.clone());
        drop(self);
        Daemon::start(data, wf)
    }

    fn cli(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_tempi"))
            .arg("--data")
            .arg(&self.data)
            .args(args)
            .env_remove("TEMPI_URL")
            .env_remove("TEMPI_TOKEN")
            .env_remove("TEMPI_SOCKET")
            .env("TEMPI_USER", "ann")
            .output()
            .unwrap()
    }

    fn ok(&self, args: &[&str]) -> String {
        let o = self.cli(args);
        assert!(o.status.success(), "{args:?}: {}", stderr(&o));
        String::from_utf8(o.stdout).unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args)).unwrap()
    }

    /// As from another machine: the daemon's URL and token, no data dir of its own.
    fn remote(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_tempi"))
            .arg("--data")
            .arg(self.data.join("elsewhere"))
            .args(args)
            .env("TEMPI_URL", &self.up.url)
            .env("TEMPI_TOKEN", &self.up.token)
            .env("TEMPI_USER", "bob")
            .output()
            .unwrap()
    }

    fn workflows(&self) -> Value {
        self.json(&["workflows", "--json"])
    }

    /// Start an item of `pay`: its id and the version it runs on.
    fn start_pay(&self) -> (u64, u64) {
        let line = self.ok(&["start", "pay"]);
        // "item 3 started (pay v2)"
        let parse = || {
            let rest = line.trim().strip_prefix("item ")?;
            let (id, rest) = rest.split_once(" started (pay v")?;
            Some((id.parse().ok()?, rest.strip_suffix(')')?.parse().ok()?))
        };
        parse().unwrap_or_else(|| panic!("unexpected answer to start: {line}"))
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[test]
fn a_deployed_version_is_live_at_once_and_after_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let wf = tmp.path().join("workflows");
    let new = tmp.path().join("new");
    std::fs::create_dir_all(&wf).unwrap();
    std::fs::create_dir_all(&new).unwrap();
    std::fs::write(wf.join("pay.yaml"), flow("pay", 1, "1h")).unwrap();
    std::fs::write(wf.join("ship.yaml"), flow("ship", 1, "1h")).unwrap();
    let pay2 = new.join("pay.yaml");
    std::fs::write(&pay2, flow("pay", 2, "2h")).unwrap();
    let broken = new.join("broken.yaml");
    std::fs::write(
        &broken,
        "name: broken\nversion: 1\nsteps:\n  - id: w\n    kind: wait\n    duration: soon\n",
    )
    .unwrap();
    let d = Daemon::start(tmp.path().join("data"), wf.clone());
    let (old, v) = d.start_pay();
    assert_eq!(v, 1);

    // A broken file among good ones: its file:line:col, exit 1, nothing deployed.
    let o = d.cli(&["deploy", path(&pay2), path(&broken)]);
    assert_eq!(o.status.code(), Some(1), "{}", stderr(&o));
    let err = stderr(&o);
    assert!(
        err.contains(&format!("{}:6:15: ", broken.display())),
        "{err}"
    );
    assert!(
        err.ends_with("error: 1 problem; nothing was deployed\n"),
        "{err}"
    );
    assert!(o.stdout.is_empty());
    let before = json!([
        { "name": "pay", "version": 1, "in_flight": 1 },
        { "name": "ship", "version": 1, "in_flight": 0 }
    ]);
    assert_eq!(d.workflows(), before);

    // The good ones: v2 deployed, the dir's ship unchanged.
    let out = d.ok(&[
        "deploy",
        path(&pay2),
        path(&wf.join("ship.yaml")),
        "--reason",
        "v2",
    ]);
    assert_eq!(out, "deployed pay v2\nunchanged ship v1\n");
    let (_, v) = d.start_pay();
    assert_eq!(v, 2, "start picks the newest");
    let item = d.json(&["item", &old.to_string(), "--json"]);
    assert_eq!(
        item["item"]["summary"]["version"], 1,
        "the running item keeps v1"
    );
    let table = d.ok(&["workflows"]);
    assert_eq!(
        table,
        "WORKFLOW  VERSION  IN FLIGHT\npay       v1       1\npay       v2       1\nship      v1       0\n"
    );

    // From another machine, as bob, through the daemon's URL and token.
    let ship2 = new.join("ship.yaml");
    std::fs::write(&ship2, flow("ship", 2, "1h")).unwrap();
    let o = d.remote(&["deploy", path(&ship2)]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(String::from_utf8_lossy(&o.stdout), "deployed ship v2\n");
    let now = json!([
        { "name": "pay", "version": 1, "in_flight": 1 },
        { "name": "pay", "version": 2, "in_flight": 1 },
        { "name": "ship", "version": 1, "in_flight": 0 },
        { "name": "ship", "version": 2, "in_flight": 0 }
    ]);
    assert_eq!(d.workflows(), now);

    // Who deployed what is in the audit trail.
    let audit = d.json(&["audit", "--json"]);
    let loaded: Vec<(String, String, Value)> = audit
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["event"]["type"] == "workflow_loaded")
        .map(|r| {
            let what = format!(
                "{} v{}",
                r["event"]["name"].as_str().unwrap(),
                r["event"]["version"]
            );
            (
                what,
                r["actor"].as_str().unwrap().to_string(),
                r["reason"].clone(),
            )
        })
        .collect();
    assert_eq!(
        loaded,
        [
            ("pay v1".into(), "engine".into(), Value::Null),
            ("ship v1".into(), "engine".into(), Value::Null),
            ("pay v2".into(), "ann".into(), json!("v2")),
            ("ship v2".into(), "bob".into(), Value::Null),
        ]
    );

    // The same content again is a no-op; other content under v2 is refused.
    std::fs::remove_file(&broken).unwrap();
    let again = d.json(&["deploy", path(&new), "--json"]);
    let statuses: Vec<&Value> = again["workflows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| &w["status"])
        .collect();
    assert_eq!(
        statuses,
        [&json!("unchanged"), &json!("unchanged")],
        "{again}"
    );
    let again = d.json(&["deploy", path(&pay2), "--json"]);
    assert_eq!(
        again["workflows"],
        json!([{ "file": path(&pay2), "name": "pay", "version": 2, "status": "unchanged" }])
    );
    let edited = new.join("edited.yaml");
    std::fs::write(&edited, flow("pay", 2, "5h")).unwrap();
    let o = d.cli(&["deploy", path(&edited)]);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.starts_with(&format!(
            "{}:2:1: workflow pay version 2 is already loaded with different content",
            edited.display()
        )),
        "{err}"
    );
    assert_eq!(d.workflows(), now);

    // A crash, then a clean stop: the deployment is still there and startable, and
    // the workflows dir was never touched.
    let d = d.restart(libc::SIGKILL);
    assert_eq!(d.workflows(), now);
    let d = d.restart(libc::SIGTERM);
    assert_eq!(d.workflows(), now);
    let (_, v) = d.start_pay();
    assert_eq!(v, 2);
    assert_eq!(
        std::fs::read_to_string(wf.join("pay.yaml")).unwrap(),
        flow("pay", 1, "1h")
    );
    let names: Vec<_> = std::fs::read_dir(&wf)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names.len(), 2);

    // A dir that has v2 with other content than was deployed: serve refuses to start
    // and says which file, and how to go on.
    let conflict = wf.join("pay-v2.yaml");
    std::fs::write(&conflict, flow("pay", 2, "3h")).unwrap();
    let data = d.data.clone();
    drop(d);
    let o = serve(&data, &wf).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = stderr(&o);
    assert!(
        err.contains(&format!(
            "{}:2:1: workflow pay version 2 is already loaded with different content; raise `version:`",
            conflict.display()
        )),
        "{err}"
    );
}
