//! Finding the daemon of a data dir: its Unix socket (`TEMPI_SOCKET`, or the one
//! `daemon.json` names), else its URL and the token (or `TEMPI_URL` and `TEMPI_TOKEN`),
//! with one clear message when no daemon is running.

use std::path::{Path, PathBuf};

use crate::api::client::{Client, ClientError};
use crate::api::socket::SOCKET_FILE;
use crate::store;

use super::Globals;

/// A client plus what is needed to explain failures to reach it.
pub struct Daemon {
    pub client: Client,
    /// Whom the daemon will take us for: `--as`, or over the socket our login name.
    pub me: String,
    data_dir: PathBuf,
    /// How the daemon was found, for what to say when it cannot be reached.
    found: Found,
}

/// Where the address came from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Found {
    /// `--data`'s daemon.json or socket: unreachable means "not running".
    DataDir,
    /// A URL given (argument or TEMPI_URL): unreachable is said as it is.
    Url,
    /// TEMPI_SOCKET.
    SocketEnv(PathBuf),
}

#[derive(Debug, thiserror::Error)]
#[error(
    "no tempi daemon is running for {dir}; start one with: tempi serve --data {dir} \
     (another user's daemon on this machine: set TEMPI_SOCKET to its socket)"
)]
pub struct NoDaemon {
    dir: String,
}

fn no_daemon(dir: &Path) -> anyhow::Error {
    NoDaemon {
        dir: dir.display().to_string(),
    }
    .into()
}

/// TEMPI_SOCKET names a socket no daemon listens on.
#[derive(Debug, thiserror::Error)]
#[error(
    "no tempi daemon is listening on {path} (TEMPI_SOCKET): start it with tempi serve \
     --socket {path}, or unset TEMPI_SOCKET to use the daemon of --data"
)]
pub struct NoSocketDaemon {
    path: String,
}

/// Whether a process with this id exists (it may belong to another user).
fn pid_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // kill(0) or a negative pid would address process groups, never one daemon.
    if pid <= 0 {
        return false;
    }
    // SAFETY: signal 0 performs only the existence and permission checks.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn is_socket(path: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_socket())
}

impl Daemon {
    pub fn connect(g: &Globals) -> anyhow::Result<Daemon> {
        Daemon::connect_to(g, None, None)
    }

    /// Like `connect`, with the URL and token given explicitly when known (`attach`).
    /// Without a URL the daemon's socket wins when there is one: no token is read then,
    /// so a user who cannot read the data dir gets in with TEMPI_SOCKET alone.
    pub fn connect_to(
        g: &Globals,
        url: Option<String>,
        token: Option<String>,
    ) -> anyhow::Result<Daemon> {
        let dir = &g.data_dir;
        if let Some(url) = url.or_else(|| env_nonempty("TEMPI_URL")) {
            return Daemon::tcp(g, url, token, Found::Url);
        }
        if let Some(path) = env_nonempty("TEMPI_SOCKET") {
            let path = PathBuf::from(path);
            check_socket_env(&path)?;
            return Daemon::socket(g, &path.clone(), Found::SocketEnv(path));
        }
        let info = store::read_daemon_info(dir).map_err(|e| unreadable(dir, e))?;
        match info {
            Some(info) if pid_alive(info.pid) => match info.socket {
                Some(socket) => Daemon::socket(g, &socket, Found::DataDir),
                None => Daemon::tcp(g, info.url, token, Found::DataDir),
            },
            Some(_) => Err(no_daemon(dir)),
            None if is_socket(&dir.join(SOCKET_FILE)) => {
                Daemon::socket(g, &dir.join(SOCKET_FILE), Found::DataDir)
            }
            None => Err(no_daemon(dir)),
        }
    }

    fn tcp(
        g: &Globals,
        url: String,
        token: Option<String>,
        found: Found,
    ) -> anyhow::Result<Daemon> {
        let dir = &g.data_dir;
        let token = match token.or_else(|| env_nonempty("TEMPI_TOKEN")) {
            Some(t) => t,
            None => store::load_or_create_token(dir)?,
        };
        Ok(Daemon {
            client: Client::new(&url, &token, g.acting_for.as_deref().unwrap_or(""))?,
            me: g.user.clone(),
            data_dir: dir.clone(),
            found,
        })
    }

    /// Over the socket the daemon knows who we are; an actor is named only when `--as`
    /// asked for one.
    fn socket(g: &Globals, path: &Path, found: Found) -> anyhow::Result<Daemon> {
        let actor = g.acting_for.as_deref().unwrap_or("");
        let me = match g.acting_for.is_some() {
            true => g.user.clone(),
            false => crate::api::peer::user_name(crate::store::private::euid())
                .unwrap_or_else(|_| g.user.clone()),
        };
        Ok(Daemon {
            client: Client::unix(path, actor)?,
            me,
            data_dir: g.data_dir.clone(),
            found,
        })
    }

    /// Turn a client error into the message the user should see.
    pub fn explain(&self, e: ClientError) -> anyhow::Error {
        match (&self.found, e.is_unreachable()) {
            (Found::DataDir, true) => no_daemon(&self.data_dir),
            (Found::SocketEnv(path), true) => NoSocketDaemon {
                path: path.display().to_string(),
            }
            .into(),
            _ => e.into(),
        }
    }
}

/// A TEMPI_SOCKET that could never be a socket is a mistake to name, not a daemon that
/// is down.
fn check_socket_env(path: &Path) -> anyhow::Result<()> {
    use std::os::unix::fs::FileTypeExt;
    let len = path.as_os_str().len();
    if len > crate::api::socket::MAX_PATH_BYTES {
        anyhow::bail!(
            "TEMPI_SOCKET: a Unix socket path is at most {} bytes and {} is {len}",
            crate::api::socket::MAX_PATH_BYTES,
            path.display()
        );
    }
    match std::fs::metadata(path) {
        Ok(m) if !m.file_type().is_socket() => anyhow::bail!(
            "TEMPI_SOCKET: {} is not a socket; set it to the path tempi serve was given with \
             --socket",
            path.display()
        ),
        _ => Ok(()),
    }
}

/// A data dir this user may not read belongs to another user's daemon: say how to
/// reach that one.
fn unreadable(dir: &Path, e: store::StoreError) -> anyhow::Error {
    let denied = matches!(&e, store::StoreError::Io { source, .. }
        if source.kind() == std::io::ErrorKind::PermissionDenied);
    match denied {
        true => anyhow::anyhow!(
            "{e}; {} belongs to another user: to use that user's daemon on this machine, set \
             TEMPI_SOCKET to its socket (or TEMPI_URL and TEMPI_TOKEN)",
            dir.display()
        ),
        false => e.into(),
    }
}
