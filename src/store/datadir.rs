//! The data dir's small files: where the dir is by default, the API token (0600), and
//! `daemon.json`, which tells consoles and CLI commands where a running engine listens.

use std::fs::{File, OpenOptions, Permissions};
use std::io::{ErrorKind, Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rand::TryRngCore;
use serde::{Deserialize, Serialize};

use super::{StoreError, ensure_dir};

const TOKEN_FILE: &str = "token";
const DAEMON_FILE: &str = "daemon.json";
const TOKEN_BYTES: usize = 32;

/// Where a running engine can be reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DaemonInfo {
    pub url: String,
    pub pid: u32,
    /// The Unix socket it also serves, for users of this machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub socket: Option<PathBuf>,
}

/// `$XDG_DATA_HOME/tempi`, else `$HOME/.local/share/tempi`, else `./.tempi`.
pub fn default_data_dir() -> PathBuf {
    data_dir_from(std::env::var_os("XDG_DATA_HOME"), std::env::var_os("HOME"))
}

fn data_dir_from(xdg: Option<std::ffi::OsString>, home: Option<std::ffi::OsString>) -> PathBuf {
    // The XDG spec says relative values are invalid and must be ignored.
    let absolute = |v: Option<std::ffi::OsString>| v.map(PathBuf::from).filter(|p| p.is_absolute());
    if let Some(xdg) = absolute(xdg) {
        return xdg.join("tempi");
    }
    if let Some(home) = absolute(home) {
        return home.join(".local").join("share").join("tempi");
    }
    PathBuf::from(".tempi")
}

/// A temp file name beside `path`, unique to this process and call.
fn temp_path(dir: &Path, name: &str) -> PathBuf {
    use std::sync::atomic::{AtomicU64, Ordering};
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    dir.join(format!(".{name}.{}.{n}.tmp", std::process::id()))
}

/// Write `bytes` to a new 0600 temp file in `dir`, flushed to disk; returns its path.
pub(super) fn write_temp(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, StoreError> {
    let tmp = temp_path(dir, name);
    let write = || -> std::io::Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()
    };
    if let Err(e) = write() {
        let _ = std::fs::remove_file(&tmp);
        return Err(StoreError::io("write", tmp, e));
    }
    Ok(tmp)
}

pub(super) fn sync_dir(dir: &Path) {
    // Best effort: makes the rename durable; not all file systems support it.
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// The API token of `dir`: read from `dir/token`, or created there (mode 0600, 32
/// random bytes as hex) when it does not exist. A token readable by group or others is
/// tightened back to 0600.
pub fn load_or_create_token(dir: &Path) -> Result<String, StoreError> {
    ensure_dir(dir)?;
    let path = dir.join(TOKEN_FILE);
    if let Some(token) = read_token(&path)? {
        return Ok(token);
    }

    let mut bytes = [0u8; TOKEN_BYTES];
    rand::rngs::OsRng
        .try_fill_bytes(&mut bytes)
        .map_err(|e| StoreError::Other(format!("cannot get random bytes for a token: {e}")))?;
    let token: String = bytes.iter().map(|b| format!("{b:02x}")).collect();

    // Publish with link(2), which fails if the name exists: when two processes race,
    // exactly one token wins and both return it.
    let tmp = write_temp(dir, TOKEN_FILE, format!("{token}\n").as_bytes())?;
    let linked = std::fs::hard_link(&tmp, &path);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            sync_dir(dir);
            Ok(token)
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => read_token(&path)?.ok_or_else(|| {
            StoreError::Other(format!(
                "{} vanished while being created; try again",
                path.display()
            ))
        }),
        Err(e) => Err(StoreError::io("create", path, e)),
    }
}

/// Read and check an existing token file; `None` when there is none.
fn read_token(path: &Path) -> Result<Option<String>, StoreError> {
    let mut file = match File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::io("open", path, e)),
    };
    let meta = file
        .metadata()
        .map_err(|e| StoreError::io("inspect", path, e))?;
    if meta.permissions().mode() & 0o077 != 0 {
        file.set_permissions(Permissions::from_mode(0o600))
            .map_err(|e| StoreError::io("restrict to mode 0600", path, e))?;
    }
    let mut text = String::new();
    file.read_to_string(&mut text)
        .map_err(|e| StoreError::io("read", path, e))?;
    let token = text.trim();
    if token.len() != TOKEN_BYTES * 2 || !token.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(StoreError::BadFile {
            path: path.to_path_buf(),
            detail: format!("expected {} hex digits", TOKEN_BYTES * 2),
            fix: "delete it and a new token will be created (clients must use the new one)",
        });
    }
    Ok(Some(token.to_string()))
}

/// Record where the engine of `dir` listens, replacing any previous `daemon.json`
/// atomically (readers see the old file or the new one, never a half-written one).
pub fn write_daemon_info(dir: &Path, info: &DaemonInfo) -> Result<(), StoreError> {
    ensure_dir(dir)?;
    let path = dir.join(DAEMON_FILE);
    let json = serde_json::to_vec_pretty(info)
        .map_err(|e| StoreError::Other(format!("cannot encode daemon info: {e}")))?;
    let tmp = write_temp(dir, DAEMON_FILE, &json)?;
    if let Err(e) = std::fs::rename(&tmp, &path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(StoreError::io("replace", path, e));
    }
    sync_dir(dir);
    Ok(())
}

/// Where the engine of `dir` said it listens; `None` when no `daemon.json` exists.
/// (The engine may since have died: callers check the pid or the URL.)
pub fn read_daemon_info(dir: &Path) -> Result<Option<DaemonInfo>, StoreError> {
    let path = dir.join(DAEMON_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(StoreError::io("read", path, e)),
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| StoreError::BadFile {
            path,
            detail: e.to_string(),
            fix: "delete it if no engine is running there",
        })
}

/// Remove `daemon.json` (on engine shutdown); missing is fine.
pub fn remove_daemon_info(dir: &Path) -> Result<(), StoreError> {
    let path = dir.join(DAEMON_FILE);
    match std::fs::remove_file(&path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
        Err(e) => Err(StoreError::io("remove", path, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_dir_prefers_xdg_then_home() {
        let some = |s: &str| Some(std::ffi::OsString::from(s));
        assert_eq!(
            data_dir_from(some("/x/data"), some("/home/u")),
            PathBuf::from("/x/data/tempi")
        );
        assert_eq!(
            data_dir_from(None, some("/home/u")),
            PathBuf::from("/home/u/.local/share/tempi")
        );
        assert_eq!(
            data_dir_from(some("relative"), some("/home/u")),
            PathBuf::from("/home/u/.local/share/tempi")
        );
        assert_eq!(data_dir_from(None, None), PathBuf::from(".tempi"));
    }

    #[test]
    fn temp_files_are_unique_and_hidden() {
        let dir = Path::new("/d");
        let a = temp_path(dir, "token");
        let b = temp_path(dir, "token");
        assert_ne!(a, b);
        assert!(
            a.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with(".token.")
        );
    }

    #[test]
    fn write_temp_is_0600() {
        let dir = tempfile::tempdir().unwrap();
        let tmp = write_temp(dir.path(), "x", b"hello").unwrap();
        let mode = std::fs::metadata(&tmp).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(std::fs::read(&tmp).unwrap(), b"hello");
    }
}
