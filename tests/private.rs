//! Private by default, end to end with the real `tempi serve`: a private data dir, only
//! the environment that was passed, secrets that reach the services they are for and
//! nothing else (journal, API, logs, snapshots), and the settings of config.toml.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

const PASS: &str = r#"name: peek
version: 1
steps:
  - id: look
    kind: pass
    output: { env: "{{ env }}" }
"#;

const NOPE: &str = r#"name: nope
version: 1
steps:
  - id: look
    kind: pass
    output: { url: "{{ env.NOPE }}" }
"#;

const SECRET: &str = "s3cr3t-K3y/with+chars=";

const CALLS: &str = r#"name: calls
version: 1
steps:
  - id: fetch
    kind: http
    request:
      url: "{{ env.T_URL }}/ok"
      headers: { X-Key: "{{ secrets.API_KEY }}" }
  - id: all
    kind: pass
    needs: [fetch]
    output: { secrets: "{{ secrets }}", got: "{{ steps.fetch.output }}" }
  - id: deny
    kind: http
    needs: [all]
    request:
      method: POST
      url: "{{ env.T_URL }}/deny/{{ secrets.API_KEY }}"
      headers: { Authorization: "Bearer {{ secrets.API_KEY }}", X-Trace: "t-{{ secrets.API_KEY }}" }
      json: { note: "n-{{ secrets.API_KEY }}" }
    retry: { attempts: 1 }
"#;

struct Daemon {
    child: Child,
    url: String,
    token: String,
}

fn tempi(data: &Path, wf: &Path, args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_tempi"));
    cmd.arg("--data")
        .arg(data)
        .arg("--workflows")
        .arg(wf)
        .args(args)
        .env_remove("TEMPI_URL")
        .env_remove("TEMPI_TOKEN")
        .env_remove("TEMPI_SOCKET")
        .env("TEMPI_USER", "tester");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd
}

fn workflows(dir: &Path, files: &[(&str, &str)]) -> PathBuf {
    let wf = dir.join("wf");
    std::fs::create_dir_all(&wf).unwrap();
    for (name, text) in files {
        std::fs::write(wf.join(format!("{name}.yaml")), text).unwrap();
    }
    wf
}

impl Daemon {
    fn spawn(data: &Path, wf: &Path, args: &[&str], env: &[(&str, &str)]) -> Daemon {
        let mut all = vec!["serve"];
        all.extend_from_slice(args);
        let mut child = tempi(data, wf, &all, env)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let common::Up { url, token } = common::wait_up(&mut child, data);
        Daemon { child, url, token }
    }

    async fn get(&self, path: &str) -> String {
        let resp = reqwest::Client::new()
            .get(format!("{}{path}", self.url))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        resp.text().await.unwrap()
    }

    async fn start_item(&self, workflow: &str) -> u64 {
        let resp = reqwest::Client::new()
            .post(format!("{}/api/items", self.url))
            .bearer_auth(&self.token)
            .json(&json!({ "workflow": workflow, "input": {} }))
            .send()
            .await
            .unwrap();
        let reply: Value = resp.json().await.unwrap();
        reply["item"].as_u64().unwrap_or_else(|| panic!("{reply}"))
    }

    /// The item's detail once it has completed or become an incident.
    async fn settled(&self, item: u64) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let detail: Value =
                serde_json::from_str(&self.get(&format!("/api/items/{item}")).await)
                    .unwrap_or(Value::Null);
            let status = detail["summary"]["status"].as_str().unwrap_or("");
            if status == "completed" || status == "incident" || status == "failed" {
                return detail;
            }
            assert!(
                Instant::now() < deadline,
                "item {item} did not settle: {detail}"
            );
            tokio::time::sleep(Duration::from_millis(30)).await;
        }
    }

    fn stop(mut self) {
        let pid = i32::try_from(self.child.id()).unwrap();
        assert_eq!(unsafe { libc::kill(pid, libc::SIGTERM) }, 0);
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.child.try_wait().unwrap().is_none() {
            assert!(Instant::now() < deadline, "daemon did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777
}

/// Every file under `dir` with its mode (folders included), relative names.
fn modes(dir: &Path) -> Vec<(String, u32)> {
    let mut out = vec![(".".to_string(), mode(dir))];
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let name = p.strip_prefix(dir).unwrap().display().to_string();
            out.push((name, mode(&p)));
            if p.is_dir() {
                todo.push(p);
            }
        }
    }
    out.sort();
    out
}

fn assert_private(dir: &Path) -> Vec<String> {
    let all = modes(dir);
    for (name, m) in &all {
        let want = if dir.join(name).is_dir() {
            0o700
        } else {
            0o600
        };
        assert_eq!(*m, want, "{name} is {m:o}; all: {all:?}");
    }
    all.into_iter().map(|(n, _)| n).collect()
}

#[tokio::test]
async fn a_fresh_data_dir_is_0700_and_every_file_in_it_0600() {
    let tmp = tempfile::tempdir().unwrap();
    let wf = workflows(tmp.path(), &[("peek", PASS)]);
    let data = tmp.path().join("data");
    let d = Daemon::spawn(&data, &wf, &["--listen", "127.0.0.1:0"], &[]);
    let item = d.start_item("peek").await;
    d.settled(item).await;
    let names = assert_private(&data);
    for f in [
        "journal.db",
        "journal.db-wal",
        "journal.db-shm",
        "token",
        "daemon.json",
    ] {
        assert!(names.iter().any(|n| n == f), "{f} missing: {names:?}");
    }
    assert!(
        names.iter().any(|n| n.starts_with("logs/tempi.log")),
        "{names:?}"
    );
    d.stop();
    // A clean stop leaves a snapshot.
    let names = assert_private(&data);
    assert!(
        names.iter().any(|n| n.starts_with("snapshots/state-")),
        "{names:?}"
    );
}

#[tokio::test]
async fn an_existing_open_data_dir_is_tightened_on_start() {
    let tmp = tempfile::tempdir().unwrap();
    let wf = workflows(tmp.path(), &[("peek", PASS)]);
    let data = tmp.path().join("data");
    std::fs::create_dir_all(data.join("logs")).unwrap();
    for f in ["notes.txt", "config.toml", "logs/tempi.log.2020-01-01"] {
        std::fs::write(data.join(f), "").unwrap();
        std::fs::set_permissions(data.join(f), PermissionsExt::from_mode(0o644)).unwrap();
    }
    for d in [data.join("logs"), data.clone()] {
        std::fs::set_permissions(d, PermissionsExt::from_mode(0o755)).unwrap();
    }
    let d = Daemon::spawn(&data, &wf, &["--listen", "127.0.0.1:0"], &[]);
    let names = assert_private(&data);
    assert!(names.iter().any(|n| n == "notes.txt"), "{names:?}");
    d.stop();
}

#[tokio::test]
async fn templates_see_only_the_environment_that_was_passed() {
    let tmp = tempfile::tempdir().unwrap();
    let wf = workflows(tmp.path(), &[("peek", PASS), ("nope", NOPE)]);
    let data = tmp.path().join("data");
    let env = [
        ("TEMPI_T_A", "alpha"),
        ("TEMPI_T_B", "beta"),
        ("NOPE", "set"),
    ];
    let args = ["--listen", "127.0.0.1:0", "--pass-env", "TEMPI_T_A"];
    let d = Daemon::spawn(&data, &wf, &args, &env);
    let detail = d.settled(d.start_item("peek").await).await;
    assert_eq!(detail["summary"]["status"], "completed", "{detail}");
    assert_eq!(
        detail["steps"][0]["output"]["env"],
        json!({ "TEMPI_T_A": "alpha" })
    );
    let detail = d.settled(d.start_item("nope").await).await;
    assert_eq!(detail["summary"]["status"], "incident", "{detail}");
    let message = detail["incident"][1]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(
        message.contains("env.NOPE is not passed to workflows: start serve with --pass-env NOPE"),
        "{detail}"
    );
    d.stop();
}

#[test]
fn a_secrets_file_others_can_read_is_refused_naming_it() {
    let tmp = tempfile::tempdir().unwrap();
    let wf = workflows(tmp.path(), &[("peek", PASS)]);
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let file = data.join("secrets.toml");
    std::fs::write(&file, "API_KEY = \"long-enough\"\n").unwrap();
    std::fs::set_permissions(&file, PermissionsExt::from_mode(0o644)).unwrap();
    // Checked as it was found, before the data dir is tightened.
    let o: Output = tempi(&data, &wf, &["serve", "--listen", "127.0.0.1:0"], &[])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains(&file.display().to_string()), "{err}");
    assert!(err.contains("chmod 600"), "{err}");
    assert!(!err.contains("long-enough"), "{err}");
}

/// A service that records the key it was sent, and whose 401 echoes the credential
/// back in every spelling.
async fn service(seen: Arc<Mutex<Vec<String>>>) -> String {
    use axum::extract::Path as P;
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::get;
    let ok = move |headers: HeaderMap| {
        let seen = seen.clone();
        async move {
            let key = headers["x-key"].to_str().unwrap().to_string();
            seen.lock().unwrap().push(key.clone());
            axum::Json(json!({ "you_sent": key }))
        }
    };
    let deny = |P(raw): P<String>, headers: HeaderMap| async move {
        let auth = headers["authorization"].to_str().unwrap().to_string();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&raw);
        let path = format!("/deny/{}", urlencoding(&raw));
        let body = format!("bad credential {auth} (b64 {b64}) at {path}");
        (StatusCode::UNAUTHORIZED, body)
    };
    let app = axum::Router::new()
        .route("/ok", get(ok))
        .route("/deny/{*key}", axum::routing::post(deny));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// RFC 3986 encoding: all but the unreserved characters.
fn urlencoding(s: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(s, SET).to_string()
}

fn forms() -> [String; 3] {
    [
        SECRET.to_string(),
        base64::engine::general_purpose::STANDARD.encode(SECRET),
        urlencoding(SECRET),
    ]
}

fn assert_masked(what: &str, text: &str) {
    for form in forms() {
        assert!(!text.contains(&form), "{what} holds {form}: {text}");
    }
}

fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

#[tokio::test]
async fn a_secret_reaches_its_service_and_nothing_else() {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let service_url = service(seen.clone()).await;
    let tmp = tempfile::tempdir().unwrap();
    let wf = workflows(tmp.path(), &[("calls", CALLS)]);
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let file = data.join("secrets.toml");
    std::fs::write(&file, format!("API_KEY = \"{SECRET}\"\n")).unwrap();
    std::fs::set_permissions(&file, PermissionsExt::from_mode(0o600)).unwrap();
    let env = [("T_URL", service_url.as_str())];
    let args = ["--listen", "127.0.0.1:0", "--pass-env", "T_URL"];
    let d = Daemon::spawn(&data, &wf, &args, &env);
    let item = d.start_item("calls").await;
    let detail = d.settled(item).await;
    assert_eq!(seen.lock().unwrap().as_slice(), [SECRET.to_string()]);

    assert_eq!(detail["summary"]["status"], "incident", "{detail}");
    let text = detail.to_string();
    assert_masked("the item view", &text);
    assert_eq!(detail["steps"][0]["output"]["you_sent"], "[secret:API_KEY]");
    assert_eq!(
        detail["steps"][1]["output"]["secrets"],
        json!({ "API_KEY": "[secret:API_KEY]" })
    );
    let error = detail["incident"][1]["message"]
        .as_str()
        .unwrap_or_default();
    assert!(
        error.contains("Bearer [secret:API_KEY] (b64 [secret:API_KEY]) at /deny/[secret:API_KEY]"),
        "{error}"
    );
    // The failed call's exchange: the secret masked in its URL, a header a name does
    // not hide, its body and the answer's; the credential's header hidden by name.
    let x = &detail["steps"][2]["exchange"];
    let masked = "[secret:API_KEY]";
    assert_eq!(
        x["request"]["url"],
        format!("{service_url}/deny/{masked}"),
        "{x}"
    );
    let headers = x["request"]["headers"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        headers.contains(&json!(["x-trace", format!("t-{masked}")])),
        "{x}"
    );
    assert!(
        headers.contains(&json!(["authorization", "[hidden]"])),
        "{x}"
    );
    assert_eq!(
        x["request"]["body"]["excerpt"],
        format!(r#"{{"note":"n-{masked}"}}"#),
        "{x}"
    );
    assert_eq!(x["response"]["status"], 401, "{x}");
    let answer = x["response"]["body"]["excerpt"]
        .as_str()
        .unwrap_or_default();
    assert!(answer.contains(&format!("Bearer {masked}")), "{x}");
    let journaled = d.get(&format!("/api/audit?item={item}")).await;
    assert!(journaled.contains(&format!("t-{masked}")), "{journaled}");
    assert_masked(
        "the audit trail",
        &d.get(&format!("/api/audit?item={item}")).await,
    );
    let o = tempi(&data, &wf, &["item", &item.to_string(), "--json"], &[])
        .output()
        .unwrap();
    assert_masked("tempi item", &String::from_utf8_lossy(&o.stdout));
    d.stop();
    // Journal, WAL, snapshot and logs, as bytes on disk.
    let files = files_under(&data);
    assert!(files.iter().any(|f| f.ends_with("journal.db")), "{files:?}");
    for f in files.iter().filter(|f| !f.ends_with("secrets.toml")) {
        let bytes = std::fs::read(f).unwrap();
        assert_masked(&f.display().to_string(), &String::from_utf8_lossy(&bytes));
    }
}

#[tokio::test]
async fn config_toml_takes_effect_and_flags_override_it() {
    let tmp = tempfile::tempdir().unwrap();
    let wf = workflows(tmp.path(), &[("peek", PASS)]);
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = format!(
        "pass_env = [\"TEMPI_T_A\"]\nlisten = \"127.0.0.1:{port}\"\nretention = \"1d\"\n\n[timeouts]\nhttp = \"30s\"\n"
    );
    std::fs::write(data.join("config.toml"), config).unwrap();
    let env = [("TEMPI_T_A", "alpha"), ("TEMPI_T_B", "beta")];
    let d = Daemon::spawn(&data, &wf, &[], &env);
    assert_eq!(d.url, format!("http://127.0.0.1:{port}"));
    let detail = d.settled(d.start_item("peek").await).await;
    assert_eq!(
        detail["steps"][0]["output"]["env"],
        json!({ "TEMPI_T_A": "alpha" })
    );
    d.stop();

    let args = ["--listen", "127.0.0.1:0", "--pass-env", "TEMPI_T_B"];
    let d = Daemon::spawn(&data, &wf, &args, &env);
    assert_ne!(d.url, format!("http://127.0.0.1:{port}"));
    let detail = d.settled(d.start_item("peek").await).await;
    let both = json!({ "TEMPI_T_A": "alpha", "TEMPI_T_B": "beta" });
    assert_eq!(detail["steps"][0]["output"]["env"], both);
    d.stop();
}

#[test]
fn an_unknown_config_key_is_refused_naming_file_line_and_key() {
    let tmp = tempfile::tempdir().unwrap();
    let wf = workflows(tmp.path(), &[("peek", PASS)]);
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let file = data.join("config.toml");
    std::fs::write(&file, "retention = \"7d\"\nretension = \"8d\"\n").unwrap();
    let o = tempi(&data, &wf, &["serve", "--listen", "127.0.0.1:0"], &[])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    let want = format!("{}:2:1: unknown field `retension`", file.display());
    assert!(err.contains(&want), "{err}");
}

#[test]
fn validate_names_the_environment_the_workflows_read() {
    let tmp = tempfile::tempdir().unwrap();
    let wf = workflows(tmp.path(), &[("peek", PASS), ("nope", NOPE)]);
    let o = tempi(tmp.path(), &wf, &["validate"], &[])
        .arg(&wf)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(0), "{out}");
    assert!(
        out.contains(
            "note: they read env.NOPE; serve passes a variable only when told: --pass-env NOPE"
        ),
        "{out}"
    );
}

#[tokio::test]
async fn config_timeouts_apply_to_steps_that_name_none() {
    // A service that accepts and never answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for conn in silent.incoming() {
            held.push(conn);
        }
    });
    let hang = format!(
        "name: hang\nversion: 1\nsteps:\n  - id: call\n    kind: http\n    retry: {{ attempts: 1 }}\n    request: {{ url: \"http://127.0.0.1:{port}/\" }}\n"
    );
    let tmp = tempfile::tempdir().unwrap();
    let wf = workflows(tmp.path(), &[("hang", &hang)]);
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("config.toml"), "[timeouts]\nhttp = \"1s\"\n").unwrap();
    let d = Daemon::spawn(&data, &wf, &["--listen", "127.0.0.1:0"], &[]);
    let detail = d.settled(d.start_item("hang").await).await;
    assert_eq!(detail["summary"]["status"], "incident", "{detail}");
    let error = &detail["steps"][0]["error"];
    assert_eq!(error["kind"], "timeout", "{detail}");
    assert!(
        error["message"].as_str().unwrap().contains("1s"),
        "{detail}"
    );
    d.stop();
}
