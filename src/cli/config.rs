//! `<data>/config.toml`: the daemon's settings in one file (the environment passed to
//! workflows, retention, archive, default step timeouts, listen address and socket, the
//! console's theme and groups). Flags override it; unknown keys are refused with file:line:col.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::console::app::alerts::NotifyMode;
use crate::types::job::StepTimeouts;

/// The config file's name inside the data dir.
pub const CONFIG_FILE: &str = "config.toml";

/// The settings of one data dir, as written (absent keys are `None` or empty).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Config {
    /// Environment variables templates may read as `env.NAME`.
    pub pass_env: Vec<String>,
    pub retention: Option<Duration>,
    /// Relative paths are taken from the data dir.
    pub archive: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
    /// The Unix socket's path; relative paths are taken from the data dir.
    pub socket: Option<PathBuf>,
    /// The group that may connect to the socket.
    pub socket_group: Option<String>,
    pub timeouts: StepTimeouts,
    pub theme: Option<String>,
    pub groups: Vec<String>,
    /// How the console tells of warnings and breaches.
    pub notify: Option<NotifyMode>,
    /// The shortest time between two notifications.
    pub notify_every: Option<Duration>,
}

/// What is wrong with `config.toml`: unreadable, or wrong at a line and column.
pub type ConfigError = crate::store::settings::SettingsError;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    pass_env: Option<Vec<Spanned<String>>>,
    retention: Option<Spanned<String>>,
    archive: Option<PathBuf>,
    listen: Option<Spanned<String>>,
    socket: Option<PathBuf>,
    socket_group: Option<Spanned<String>>,
    timeouts: Option<Timeouts>,
    console: Option<Console>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Timeouts {
    http: Option<Spanned<String>>,
    shell: Option<Spanned<String>>,
    agent: Option<Spanned<String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Console {
    theme: Option<String>,
    groups: Option<Vec<String>>,
    notify: Option<Spanned<String>>,
    notify_every: Option<Spanned<String>>,
}

impl Config {
    /// The config of `data_dir`; the defaults when it has no config file.
    pub fn load(data_dir: &Path) -> Result<Config, ConfigError> {
        let path = data_dir.join(CONFIG_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Config::parse(&path, &text, data_dir),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(source) => Err(ConfigError::Read { path, source }),
        }
    }

    /// The config a client reads for its own settings (the console's theme, groups):
    /// a data dir of another user, which this one may not read, has none for it.
    pub fn load_for_client(data_dir: &Path) -> Result<Config, ConfigError> {
        match Config::load(data_dir) {
            Err(ConfigError::Read { source, .. })
                if source.kind() == std::io::ErrorKind::PermissionDenied =>
            {
                Ok(Config::default())
            }
            other => other,
        }
    }

    /// Parse config TOML; `path` names the file in errors, `data_dir` anchors relative paths.
    pub fn parse(path: &Path, text: &str, data_dir: &Path) -> Result<Config, ConfigError> {
        let invalid = |span: std::ops::Range<usize>, message: String| {
            ConfigError::at(path, text, span.start, message)
        };
        let file: File = toml::from_str(text)
            .map_err(|e| invalid(e.span().unwrap_or(0..0), e.message().trim_end().to_string()))?;
        let mut config = Config::default();
        for name in file.pass_env.unwrap_or_default() {
            if let Err(why) = check_env_name(name.get_ref()) {
                return Err(invalid(name.span(), format!("pass_env: {why}")));
            }
            config.pass_env.push(name.into_inner());
        }
        if let Some(r) = file.retention {
            let d = super::parse_retention(r.get_ref())
                .map_err(|e| invalid(r.span(), format!("retention: {e}")))?;
            config.retention = Some(d);
        }
        config.archive = file.archive.map(|a| data_dir.join(a));
        if let Some(l) = file.listen {
            let addr = l.get_ref().parse().map_err(|e| {
                let message = format!("listen: {e} (write it like 127.0.0.1:7878)");
                invalid(l.span(), message)
            })?;
            config.listen = Some(addr);
        }
        config.socket = file.socket.map(|p| data_dir.join(p));
        if let Some(g) = file.socket_group {
            if g.get_ref().trim().is_empty() {
                return Err(invalid(g.span(), "socket_group: an empty name".into()));
            }
            config.socket_group = Some(g.into_inner());
        }
        let t = file.timeouts.unwrap_or_default();
        let defaults = StepTimeouts::default();
        let timeout = |key: &str, v: Option<Spanned<String>>, default: Duration| match v {
            None => Ok(default),
            Some(v) => {
                parse_timeout(v.get_ref()).map_err(|e| invalid(v.span(), format!("{key}: {e}")))
            }
        };
        config.timeouts = StepTimeouts {
            http: timeout("timeouts.http", t.http, defaults.http)?,
            shell: timeout("timeouts.shell", t.shell, defaults.shell)?,
            agent: timeout("timeouts.agent", t.agent, defaults.agent)?,
        };
        let console = file.console.unwrap_or_default();
        config.theme = console.theme;
        config.groups = console.groups.unwrap_or_default();
        if let Some(n) = console.notify {
            let mode = NotifyMode::parse(n.get_ref()).ok_or_else(|| {
                let message = format!("console.notify: use {}", NotifyMode::NAMES);
                invalid(n.span(), message)
            })?;
            config.notify = Some(mode);
        }
        if let Some(e) = console.notify_every {
            let d = humantime::parse_duration(e.get_ref()).map_err(|err| {
                invalid(
                    e.span(),
                    format!("console.notify_every: {err} (write it like 30s or 2m)"),
                )
            })?;
            config.notify_every = Some(d);
        }
        Ok(config)
    }
}

/// What an engine on a data dir is given besides its config: the passed environment
/// and the secrets.
pub struct Private {
    pub env: BTreeMap<String, String>,
    pub secrets: crate::types::secrets::Secrets,
}

/// Ready `data_dir` for an engine: secrets.toml read (and refused if others could read
/// it: tightening it now would not take back what was read), umask 077 from now on, the
/// dir tightened if it is ours, then config.toml and the environment to pass (the
/// config's `pass_env` plus `more`, the `--pass-env` flags).
pub fn open_private(data_dir: &Path, more: &[String]) -> anyhow::Result<(Config, Private)> {
    let secrets = crate::store::secrets::load(data_dir)?;
    crate::store::private::restrict_umask();
    crate::store::private::tighten(data_dir)?;
    let mut config = Config::load(data_dir)?;
    for name in more {
        check_env_name(name).map_err(|e| anyhow::anyhow!("--pass-env: {e}"))?;
        if !config.pass_env.contains(name) {
            config.pass_env.push(name.clone());
        }
    }
    let (env, unset) = passed_env(&config.pass_env);
    for name in unset {
        eprintln!("tempi: warning: {name} is passed to workflows but is not set here");
    }
    Ok((config, Private { env, secrets }))
}

/// Longer than this is a mistake: an attempt that may run for a month is never noticed.
const MAX_TIMEOUT: Duration = Duration::from_secs(30 * 24 * 3600);

fn parse_timeout(text: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(text.trim())
        .map_err(|e| format!("{e} (write it like 30s, 5m or 1h)"))?;
    if d.is_zero() {
        return Err("a timeout of 0 would fail every attempt".into());
    }
    if d > MAX_TIMEOUT {
        return Err("at most 30d".into());
    }
    Ok(d)
}

/// An environment variable name as `--pass-env` and `pass_env` take it: exact, and
/// something a process environment can hold.
pub fn check_env_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("an empty name".into());
    }
    if name.contains(['=', '\0']) || name.chars().any(char::is_whitespace) {
        return Err(format!("{name:?} is not an environment variable name"));
    }
    Ok(())
}

/// The values of `names` in this process's environment, and the names that are not set
/// (or not UTF-8), which the caller warns about.
pub fn passed_env(names: &[String]) -> (BTreeMap<String, String>, Vec<String>) {
    let mut env = BTreeMap::new();
    let mut unset = Vec::new();
    for name in names {
        match std::env::var(name) {
            Ok(v) => {
                env.insert(name.clone(), v);
            }
            Err(_) => unset.push(name.clone()),
        }
    }
    (env, unset)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(Path::new("/d/config.toml"), text, Path::new("/d")).map_err(|e| e.to_string())
    }

    #[test]
    fn every_key_is_read() {
        let c = parse(
            r#"
pass_env = ["OCR_URL", "BANK_URL"]
retention = "36h"
archive = "archive"
listen = "0.0.0.0:9000"
socket = "/run/tempi/tempi.sock"
socket_group = "ops"

[timeouts]
http = "30s"
agent = "2m"

[console]
theme = "light"
groups = ["ops", "finance"]
notify = "bell"
notify_every = "1m"
"#,
        )
        .unwrap();
        assert_eq!(c.pass_env, ["OCR_URL", "BANK_URL"]);
        assert_eq!(c.retention, Some(Duration::from_secs(36 * 3600)));
        assert_eq!(c.archive, Some(PathBuf::from("/d/archive")));
        assert_eq!(c.listen, Some("0.0.0.0:9000".parse().unwrap()));
        assert_eq!(c.socket, Some(PathBuf::from("/run/tempi/tempi.sock")));
        assert_eq!(c.socket_group.as_deref(), Some("ops"));
        let relative = parse("socket = \"s/tempi.sock\"\n").unwrap();
        assert_eq!(relative.socket, Some(PathBuf::from("/d/s/tempi.sock")));
        assert_eq!(c.timeouts.http, Duration::from_secs(30));
        assert_eq!(c.timeouts.shell, StepTimeouts::default().shell);
        assert_eq!(c.timeouts.agent, Duration::from_secs(120));
        assert_eq!(c.theme.as_deref(), Some("light"));
        assert_eq!(c.groups, ["ops", "finance"]);
        assert_eq!(c.notify, Some(NotifyMode::Bell));
        assert_eq!(c.notify_every, Some(Duration::from_secs(60)));
    }

    #[test]
    fn an_empty_file_is_the_defaults() {
        assert_eq!(parse("").unwrap(), Config::default());
    }

    #[test]
    fn an_unknown_key_is_refused_naming_file_line_and_key() {
        let e = parse("retention = \"7d\"\nretension = \"8d\"\n").unwrap_err();
        assert!(
            e.starts_with("/d/config.toml:2:1: unknown field `retension`"),
            "{e}"
        );
        let e = parse("[timeouts]\nwait = \"1m\"\n").unwrap_err();
        assert!(
            e.starts_with("/d/config.toml:2:1: unknown field `wait`"),
            "{e}"
        );
    }

    #[test]
    fn a_bad_value_names_its_key() {
        let e = parse("retention = \"soon\"\n").unwrap_err();
        assert!(e.starts_with("/d/config.toml:1:13: retention: "), "{e}");
        let e = parse("[timeouts]\nshell = \"0s\"\n").unwrap_err();
        assert!(e.starts_with("/d/config.toml:2:9: timeouts.shell: "), "{e}");
        let e = parse("listen = \"nowhere\"\n").unwrap_err();
        assert!(e.starts_with("/d/config.toml:1:10: listen: "), "{e}");
        let e = parse("pass_env = [\"A=B\"]\n").unwrap_err();
        assert!(e.starts_with("/d/config.toml:1:13: pass_env: "), "{e}");
        let e = parse("[console]\nnotify = \"loud\"\n").unwrap_err();
        assert!(
            e.starts_with("/d/config.toml:2:10: console.notify: use all, bell"),
            "{e}"
        );
        let e = parse("[console]\nnotify_every = \"often\"\n").unwrap_err();
        assert!(
            e.starts_with("/d/config.toml:2:16: console.notify_every: "),
            "{e}"
        );
        let e = parse("socket_group = \" \"\n").unwrap_err();
        assert!(e.starts_with("/d/config.toml:1:16: socket_group: "), "{e}");
        let e = parse("pass_env = \"A\"\n").unwrap_err();
        assert!(e.starts_with("/d/config.toml:1:12: "), "{e}");
    }

    #[test]
    fn passed_env_takes_only_the_names_given() {
        let path = std::env::var("PATH").unwrap_or_default();
        let names = vec!["PATH".to_string(), "TEMPI_SURELY_UNSET_VAR".to_string()];
        let (env, unset) = passed_env(&names);
        assert_eq!(env.len(), 1);
        assert_eq!(env["PATH"], path);
        assert_eq!(unset, ["TEMPI_SURELY_UNSET_VAR"]);
    }
}
