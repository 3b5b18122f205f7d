//! The verbs that change things: `serve` runs the daemon; `start`, `approve`, `reject`,
//! `claim`, `reassign`, `escalate`, `retry`, `skip`, `compensate`, `cancel`, `signal`
//! send one command to it and print its one-line answer (with `--json`, the API's reply:
//! `{"item", "task", "message", "seq"}`; `start` adds `workflow` and `version`).

use std::net::SocketAddr;

use anyhow::Context;
use serde_json::Value;

use super::daemon::Daemon;
use super::{Cmd, Globals};
use crate::api::server::{self, ServeOptions};
use crate::api::socket::{self, SocketSpec};
use crate::api::{DecideRequest, SignalRequest, StartRequest};
use crate::types::Reply;

/// What `tempi serve` was given on the command line (each overrides config.toml).
pub struct ServeFlags {
    pub listen: Option<SocketAddr>,
    pub retention: Option<std::time::Duration>,
    pub archive: Option<std::path::PathBuf>,
    pub pass_env: Vec<String>,
    pub socket: Option<std::path::PathBuf>,
    pub socket_group: Option<String>,
    /// Say where it serves as one JSON line on stdout.
    pub json: bool,
}

const DEFAULT_LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 7878);
const DEFAULT_RETENTION: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

pub async fn serve(g: &Globals, flags: ServeFlags) -> anyhow::Result<()> {
    let (config, private) = super::config::open_private(&g.data_dir, &flags.pass_env)?;
    let socket = socket_spec(g, &flags, &config)?;
    let retention = flags
        .retention
        .or(config.retention)
        .unwrap_or(DEFAULT_RETENTION);
    let archive = flags.archive.or(config.archive);
    anyhow::ensure!(
        archive.is_none() || !retention.is_zero(),
        "--archive: nothing is removed with --retention 0, so nothing would be archived"
    );
    let opts = ServeOptions {
        data_dir: g.data_dir.clone(),
        workflows_dir: g.workflows_dir.clone(),
        listen: flags.listen.or(config.listen).unwrap_or(DEFAULT_LISTEN),
        retention: (!retention.is_zero()).then_some(retention),
        archive,
        env: private.env,
        secrets: private.secrets,
        step_timeouts: config.timeouts,
        socket,
    };
    let data = g.data_dir.display().to_string();
    let _log = init_log(&g.data_dir);
    let json = flags.json;
    server::serve(opts, |url, socket| {
        let socket = socket.map(|s| s.display().to_string());
        tracing::info!(url, socket, data, "serving");
        if json {
            let pid = std::process::id();
            println!(
                "{}",
                serde_json::json!({ "url": url, "socket": socket, "data": data, "pid": pid })
            );
        } else {
            let and = socket.map(|s| format!(" and {s}")).unwrap_or_default();
            eprintln!("tempi: serving {url}{and} (data {data}); stop with Ctrl-C or SIGTERM");
        }
    })
    .await?;
    tracing::info!("stopped");
    Ok(())
}

/// Where the socket goes: `--socket`, else config.toml's `socket`, else
/// `<data>/tempi.sock` (skipped with a warning when that path is too long for a socket:
/// the daemon still serves TCP).
fn socket_spec(
    g: &Globals,
    flags: &ServeFlags,
    config: &super::config::Config,
) -> anyhow::Result<Option<SocketSpec>> {
    let group = flags.socket_group.clone().or(config.socket_group.clone());
    let chosen = flags.socket.clone().or(config.socket.clone());
    let path = chosen
        .clone()
        .unwrap_or_else(|| g.data_dir.join(socket::SOCKET_FILE));
    let path = std::path::absolute(&path)
        .with_context(|| format!("--socket {}: cannot make it absolute", path.display()))?;
    let data = std::path::absolute(&g.data_dir).unwrap_or_else(|_| g.data_dir.clone());
    if group.is_some() && path.starts_with(&data) {
        anyhow::bail!(
            "--socket-group: the socket {} is inside the data dir, which only the daemon's user \
             can enter, so the group could never reach it; give --socket a path outside it \
             (such as /run/tempi/tempi.sock)",
            path.display()
        );
    }
    if chosen.is_none() && path.as_os_str().len() > socket::MAX_PATH_BYTES {
        eprintln!(
            "tempi: warning: no Unix socket: {} is longer than a socket path may be ({} bytes); \
             local users need --socket with a shorter path (or the TCP URL and the token)",
            path.display(),
            socket::MAX_PATH_BYTES
        );
        return Ok(None);
    }
    Ok(Some(SocketSpec { path, group }))
}

/// Log to `<data>/logs/tempi.log.<date>` (daily files), filtered by `TEMPI_LOG`
/// (default `info`). Without a writable log dir the daemon runs unlogged.
pub(super) fn init_log(
    data_dir: &std::path::Path,
) -> Option<tracing_appender::non_blocking::WorkerGuard> {
    use tracing_subscriber::EnvFilter;
    let dir = data_dir.join("logs");
    // The log files take the process's umask (077 for an engine); a private folder
    // keeps them private even where it is not.
    {
        use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .ok()?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).ok()?;
    }
    let appender = tracing_appender::rolling::Builder::new()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix("tempi.log")
        .max_log_files(7)
        .build(&dir)
        .ok()?;
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let filter = EnvFilter::try_from_env("TEMPI_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .try_init()
        .ok()?;
    Some(guard)
}

/// `JSON` text or `@FILE`, for the option named `flag`.
pub fn json_arg(flag: &str, arg: &str) -> anyhow::Result<Value> {
    match arg.strip_prefix('@') {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("{flag}: cannot read {path}"))?;
            serde_json::from_str(&text)
                .map_err(|e| anyhow::anyhow!("{flag}: {path}: expected JSON: {e}"))
        }
        None => {
            serde_json::from_str(arg).map_err(|e| anyhow::anyhow!("{flag}: expected JSON: {e}"))
        }
    }
}

/// Send one acting verb. Arguments are checked before the daemon is contacted.
pub async fn run(g: &Globals, cmd: Cmd) -> anyhow::Result<()> {
    let fields = match &cmd {
        Cmd::Approve { fields, .. } | Cmd::Reject { fields, .. } if !fields.is_empty() => {
            Some(crate::types::form::parse_pairs(fields).map_err(anyhow::Error::msg)?)
        }
        _ => None,
    };
    let input = match &cmd {
        Cmd::Start { input: Some(i), .. } => json_arg("--input", i)?,
        Cmd::Signal {
            payload: Some(d), ..
        } => json_arg("signal data", d)?,
        _ => Value::Null,
    };
    let json = acting_of(&cmd).is_some_and(|a| a.print.json);
    let started = match &cmd {
        Cmd::Start { workflow, .. } => Some(workflow.clone()),
        _ => None,
    };
    let daemon = Daemon::connect(g)?;
    let c = &daemon.client;
    let reply: Result<Reply, _> = match cmd {
        Cmd::Start {
            workflow,
            priority,
            version,
            acting,
            ..
        } => {
            let req = StartRequest {
                workflow,
                version,
                input,
                priority,
            };
            c.start(&req, acting.reason.as_deref()).await
        }
        Cmd::Approve {
            task,
            option,
            comment,
            acting,
            ..
        } => {
            let req = DecideRequest {
                decision: option.unwrap_or_else(|| "approved".into()),
                comment,
                fields,
            };
            c.decide(task, &req, acting.reason.as_deref()).await
        }
        Cmd::Reject {
            task,
            comment,
            acting,
            ..
        } => {
            let req = DecideRequest {
                decision: "rejected".into(),
                comment,
                fields,
            };
            c.decide(task, &req, acting.reason.as_deref()).await
        }
        Cmd::Claim { task, acting } => c.claim(task, acting.reason.as_deref()).await,
        Cmd::Reassign { task, to, acting } => c.reassign(task, &to, acting.reason.as_deref()).await,
        Cmd::Escalate { task, to, acting } => {
            c.escalate(task, to.as_deref(), acting.reason.as_deref())
                .await
        }
        Cmd::Retry { item, from, acting } => {
            c.retry(item, from.as_deref(), acting.reason.as_deref())
                .await
        }
        Cmd::Skip { item, step, acting } => c.skip(item, &step, acting.reason.as_deref()).await,
        Cmd::Compensate { item, acting } => c.compensate(item, acting.reason.as_deref()).await,
        Cmd::Cancel { item, acting } => c.cancel(item, acting.reason.as_deref()).await,
        Cmd::Signal {
            item, name, acting, ..
        } => {
            let req = SignalRequest { name, data: input };
            c.signal(item, &req, acting.reason.as_deref()).await
        }
        other => anyhow::bail!("internal: {other:?} is not an acting verb"),
    };
    let reply = reply.map_err(|e| daemon.explain(e))?;
    if !json {
        println!("{}", crate::text::printable(&reply.message));
        return Ok(());
    }
    let mut answer = serde_json::to_value(&reply)?;
    if let (Some(workflow), Some(id)) = (started, reply.item) {
        // The reply names the item; which version it runs is the item's to say. The item
        // has started whatever happens next, so a failure to read it is no error: a
        // script told otherwise would start it again.
        let version = match c.item(id).await {
            Ok(item) => Some(item.summary.version),
            Err(e) => {
                eprintln!("tempi: item {id} started; its version could not be read: {e}");
                None
            }
        };
        answer["workflow"] = workflow.into();
        answer["version"] = version.into();
    }
    println!("{}", serde_json::to_string_pretty(&answer)?);
    Ok(())
}

/// The options of an acting verb.
fn acting_of(cmd: &Cmd) -> Option<&super::Acting> {
    match cmd {
        Cmd::Start { acting, .. }
        | Cmd::Approve { acting, .. }
        | Cmd::Reject { acting, .. }
        | Cmd::Claim { acting, .. }
        | Cmd::Reassign { acting, .. }
        | Cmd::Escalate { acting, .. }
        | Cmd::Retry { acting, .. }
        | Cmd::Skip { acting, .. }
        | Cmd::Compensate { acting, .. }
        | Cmd::Cancel { acting, .. }
        | Cmd::Signal { acting, .. } => Some(acting),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_json_says_which_option_and_where() {
        let e = json_arg("--input", "{\"a\": }").unwrap_err().to_string();
        assert!(e.starts_with("--input: expected JSON: "), "{e}");
        assert!(e.contains("line 1 column 7"), "{e}");
    }

    #[test]
    fn at_file_reads_json() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.json");
        std::fs::write(&path, "{\"n\": 3}").unwrap();
        let v = json_arg("--input", &format!("@{}", path.display())).unwrap();
        assert_eq!(v["n"], 3);
        let missing = format!("@{}", dir.path().join("nope").display());
        assert!(json_arg("--input", &missing).is_err());
    }
}
