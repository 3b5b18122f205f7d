//! Finding the daemon of a data dir: `daemon.json` and the token (or `TEMPI_URL` and
//! `TEMPI_TOKEN`), with one clear message when no daemon is running.

use std::path::{Path, PathBuf};

use crate::api::client::{Client, ClientError};
use crate::store;

use super::Globals;

/// A client plus what is needed to explain failures to reach it.
pub struct Daemon {
    pub client: Client,
    data_dir: PathBuf,
    /// Found through daemon.json (not TEMPI_URL): unreachable means "not running".
    discovered: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("no tempi daemon is running for {dir}; start one with: tempi serve --data {dir}")]
pub struct NoDaemon {
    dir: String,
}

fn no_daemon(dir: &Path) -> anyhow::Error {
    NoDaemon {
        dir: dir.display().to_string(),
    }
    .into()
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

impl Daemon {
    pub fn connect(g: &Globals) -> anyhow::Result<Daemon> {
        Daemon::connect_to(g, None, None)
    }

    /// Like `connect`, with the URL and token given explicitly when known (`attach`).
    pub fn connect_to(
        g: &Globals,
        url: Option<String>,
        token: Option<String>,
    ) -> anyhow::Result<Daemon> {
        let dir = &g.data_dir;
        let (url, discovered) = match url.or_else(|| env_nonempty("TEMPI_URL")) {
            Some(url) => (url, false),
            None => match store::read_daemon_info(dir)? {
                Some(info) if pid_alive(info.pid) => (info.url, true),
                _ => return Err(no_daemon(dir)),
            },
        };
        let token = match token.or_else(|| env_nonempty("TEMPI_TOKEN")) {
            Some(t) => t,
            None => store::load_or_create_token(dir)?,
        };
        Ok(Daemon {
            client: Client::new(&url, &token, g.acting_for.as_deref().unwrap_or(""))?,
            data_dir: dir.clone(),
            discovered,
        })
    }

    /// Turn a client error into the message the user should see.
    pub fn explain(&self, e: ClientError) -> anyhow::Error {
        if e.is_unreachable() && self.discovered {
            no_daemon(&self.data_dir)
        } else {
            e.into()
        }
    }
}
