//! The daemon's Unix socket, where users of this machine reach the API without a token:
//! made only where no one else can swap it, replacing nothing but a socket a dead daemon
//! left, 0600 (0660 for `--socket-group`), and removed when the daemon stops.

use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::net::UnixListener;

/// The socket's name inside the data dir, where it is by default.
pub const SOCKET_FILE: &str = "tempi.sock";
/// A socket address holds 108 bytes of path with its terminating NUL (Linux).
pub const MAX_PATH_BYTES: usize = 107;
/// How long a daemon already on the path has to accept a probe before it counts as
/// listening all the same (a full backlog also looks like this).
const PROBE: Duration = Duration::from_secs(1);

/// Where the socket goes and who besides the daemon's user may connect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SocketSpec {
    pub path: PathBuf,
    /// Members of this group (a name or a number) may connect too: mode 0660.
    pub group: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error(
        "socket {path}: a Unix socket path is at most {MAX_PATH_BYTES} bytes and this one is {len}; \
         choose a shorter --socket (such as /run/tempi/tempi.sock)"
    )]
    TooLong { path: PathBuf, len: usize },
    #[error(
        "socket {path}: {what} is there, not a socket; tempi replaces only a socket a stopped \
         daemon left behind: remove it, or choose another --socket"
    )]
    NotASocket { path: PathBuf, what: &'static str },
    #[error(
        "socket {path}: another process is listening on it; stop it, or choose another --socket"
    )]
    InUse { path: PathBuf },
    #[error("socket {path}: its directory {dir} {problem}, or choose another --socket")]
    BadDir {
        path: PathBuf,
        dir: PathBuf,
        problem: String,
    },
    #[error("--socket-group {group}: no such group on this machine")]
    NoGroup { group: String },
    #[error(
        "--socket-group {group}: cannot give {path} to it: {source} (the daemon's user must be a \
         member of the group)"
    )]
    Chown {
        path: PathBuf,
        group: String,
        source: io::Error,
    },
    #[error("socket {path}: cannot {action}: {source}")]
    Io {
        path: PathBuf,
        action: &'static str,
        source: io::Error,
    },
}

/// A bound socket: accept on `listener`; `file` removes the socket when dropped.
pub struct Bound {
    pub listener: UnixListener,
    pub file: SocketFile,
}

/// The socket file this daemon made; dropping it removes the file, unless something
/// else has taken the name since.
#[derive(Debug)]
pub struct SocketFile {
    path: PathBuf,
    dev: u64,
    ino: u64,
}

impl SocketFile {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for SocketFile {
    fn drop(&mut self) {
        let ours = std::fs::symlink_metadata(&self.path)
            .is_ok_and(|m| m.dev() == self.dev && m.ino() == self.ino);
        if ours && let Err(e) = std::fs::remove_file(&self.path) {
            tracing::warn!("cannot remove the socket {}: {e}", self.path.display());
        }
    }
}

/// What can be checked before the daemon starts its engine: the path's length, its
/// directory, the group, and that nothing but a socket is in the way. Changes nothing;
/// returns the group's id.
pub fn check(spec: &SocketSpec) -> Result<Option<u32>, SocketError> {
    check_length(&spec.path)?;
    let gid = spec.group.as_deref().map(group_id).transpose()?;
    check_dir(&spec.path)?;
    existing_socket(&spec.path)?;
    Ok(gid)
}

/// Make and listen on the socket `spec` asks for. Nothing is created when a check fails.
pub async fn bind(spec: &SocketSpec) -> Result<Bound, SocketError> {
    let path = spec.path.as_path();
    let gid = check(spec)?;
    clear_stale(path).await?;
    let io = |action, source| SocketError::Io {
        path: path.to_path_buf(),
        action,
        source,
    };
    let listener = UnixListener::bind(path).map_err(|e| io("listen on", e))?;
    // Made by us a moment ago, with the daemon's umask (077): only we can connect yet.
    let meta = std::fs::symlink_metadata(path).map_err(|e| io("inspect", e))?;
    let file = SocketFile {
        path: path.to_path_buf(),
        dev: meta.dev(),
        ino: meta.ino(),
    };
    if let (Some(gid), Some(group)) = (gid, &spec.group) {
        std::os::unix::fs::lchown(path, None, Some(gid)).map_err(|source| SocketError::Chown {
            path: path.to_path_buf(),
            group: group.clone(),
            source,
        })?;
    }
    let mode = if gid.is_some() { 0o660 } else { 0o600 };
    // The directory passed check_dir, so no one else can have swapped the name for a
    // link this method would follow.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| io("set the mode of", e))?;
    Ok(Bound { listener, file })
}

fn check_length(path: &Path) -> Result<(), SocketError> {
    let len = path.as_os_str().len();
    if len > MAX_PATH_BYTES {
        return Err(SocketError::TooLong {
            path: path.to_path_buf(),
            len,
        });
    }
    Ok(())
}

/// Whoever can write the socket's directory can put their own socket in its place and
/// answer the daemon's clients: only the daemon's user and root may, unless the
/// directory is sticky (as /tmp is), where no one can move another's file.
fn check_dir(path: &Path) -> Result<(), SocketError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let bad = |problem: String| SocketError::BadDir {
        path: path.to_path_buf(),
        dir: dir.to_path_buf(),
        problem,
    };
    let meta = match std::fs::metadata(dir) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let fix = format!("install -d -m 0755 -o USER {}", dir.display());
            return Err(bad(format!("does not exist; create it first ({fix})")));
        }
        Err(e) => return Err(bad(format!("cannot be inspected ({e})"))),
    };
    if !meta.is_dir() {
        return Err(bad("is not a directory".into()));
    }
    if !writable(dir) {
        return Err(bad(format!(
            "cannot be written by the daemon's user; give it the directory (chown USER {})",
            dir.display()
        )));
    }
    match dir_writers(&meta) {
        Some(who) => Err(bad(format!(
            "can be written by {who}, who could replace the socket with their own; make it \
             writable only by the daemon's user (chmod go-w {})",
            dir.display()
        ))),
        None => Ok(()),
    }
}

/// Whether this process may make a file in `dir`.
fn writable(dir: &Path) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_bytes()) else {
        return false;
    };
    // SAFETY: `c` is a valid NUL-terminated path for the duration of the call.
    unsafe { libc::access(c.as_ptr(), libc::W_OK | libc::X_OK) == 0 }
}

/// Who besides the daemon's user and root could rename entries of a directory.
fn dir_writers(meta: &std::fs::Metadata) -> Option<String> {
    let me = crate::store::private::euid();
    if meta.uid() != me && meta.uid() != 0 {
        let owner = super::peer::user_name(meta.uid()).unwrap_or_else(|_| meta.uid().to_string());
        return Some(format!("its owner {owner}"));
    }
    let mode = meta.mode();
    let sticky = mode & 0o1000 != 0;
    match () {
        _ if sticky => None,
        _ if mode & 0o002 != 0 => Some("every user (mode o+w)".into()),
        _ if mode & 0o020 != 0 => Some(format!("its group (gid {}, mode g+w)", meta.gid())),
        _ => None,
    }
}

/// Whether a socket is at `path` (false: nothing is); anything else there is refused.
fn existing_socket(path: &Path) -> Result<bool, SocketError> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(source) => {
            return Err(SocketError::Io {
                path: path.to_path_buf(),
                action: "inspect",
                source,
            });
        }
    };
    let kind = meta.file_type();
    if kind.is_socket() {
        return Ok(true);
    }
    let what = match () {
        _ if kind.is_symlink() => "a symbolic link",
        _ if kind.is_dir() => "a directory",
        _ if kind.is_file() => "a file",
        _ => "a special file",
    };
    Err(SocketError::NotASocket {
        path: path.to_path_buf(),
        what,
    })
}

/// Remove a socket left by a daemon that is gone; refuse anything else at `path`.
async fn clear_stale(path: &Path) -> Result<(), SocketError> {
    if !existing_socket(path)? {
        return Ok(());
    }
    let io = |action, source| SocketError::Io {
        path: path.to_path_buf(),
        action,
        source,
    };
    match tokio::time::timeout(PROBE, tokio::net::UnixStream::connect(path)).await {
        Ok(Err(e)) if e.kind() == io::ErrorKind::ConnectionRefused => {
            tracing::info!("replacing the stale socket {}", path.display());
            std::fs::remove_file(path).map_err(|e| io("remove the stale socket", e))
        }
        Ok(Err(e)) => Err(io("check for a daemon listening on", e)),
        Ok(Ok(_)) | Err(_) => Err(SocketError::InUse {
            path: path.to_path_buf(),
        }),
    }
}

/// A group by name (or number), through getgrnam_r so NSS groups count too.
fn group_id(group: &str) -> Result<u32, SocketError> {
    let none = || SocketError::NoGroup {
        group: group.to_string(),
    };
    if let Ok(gid) = group.parse::<u32>() {
        return Ok(gid);
    }
    let name = std::ffi::CString::new(group).map_err(|_| none())?;
    let mut buf = vec![0u8; 4096];
    loop {
        // SAFETY: group is plain data; zeroed is a valid value before the call fills it.
        let mut entry: libc::group = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::group = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the call and `buf.len()` is its size.
        let rc = unsafe {
            libc::getgrnam_r(
                name.as_ptr(),
                &mut entry,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut found,
            )
        };
        // Groups list their members in the buffer: a big group needs a big one.
        if rc == libc::ERANGE && buf.len() < 1 << 24 {
            buf.resize(buf.len() * 4, 0);
            continue;
        }
        return match (rc, found.is_null()) {
            (0, false) => Ok(entry.gr_gid),
            _ => Err(none()),
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(path: PathBuf) -> SocketSpec {
        SocketSpec { path, group: None }
    }

    fn mode(p: &Path) -> u32 {
        std::fs::symlink_metadata(p).unwrap().mode() & 0o7777
    }

    #[tokio::test]
    async fn a_socket_is_0600_and_removed_when_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SOCKET_FILE);
        let bound = bind(&spec(path.clone())).await.unwrap();
        assert!(
            std::fs::symlink_metadata(&path)
                .unwrap()
                .file_type()
                .is_socket()
        );
        assert_eq!(mode(&path), 0o600);
        assert_eq!(bound.file.path(), path);
        drop(bound);
        assert!(!path.exists(), "the socket file stayed");
    }

    #[tokio::test]
    async fn a_group_makes_it_0660_and_that_group() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        // SAFETY: getegid has no preconditions.
        let gid = unsafe { libc::getegid() };
        let group = Some(gid.to_string());
        let _bound = bind(&SocketSpec {
            path: path.clone(),
            group,
        })
        .await
        .unwrap();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert_eq!((meta.mode() & 0o777, meta.gid()), (0o660, gid));
    }

    #[tokio::test]
    async fn a_stale_socket_is_replaced_and_a_live_one_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        // Left behind: bound, then the listener closed without removing the file.
        drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
        let bound = bind(&spec(path.clone())).await.unwrap();
        let e = bind(&spec(path.clone())).await.err().unwrap();
        assert!(matches!(e, SocketError::InUse { .. }), "{e}");
        assert!(
            e.to_string().contains("another process is listening"),
            "{e}"
        );
        // The refused attempt left the first one's file alone.
        assert!(path.exists());
        tokio::net::UnixStream::connect(&path).await.unwrap();
        drop(bound);
    }

    #[tokio::test]
    async fn what_is_not_a_socket_is_never_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("file");
        std::fs::write(&file, "keep me").unwrap();
        let sub = dir.path().join("dir");
        std::fs::create_dir(&sub).unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink("/nonexistent/target", &link).unwrap();
        for (path, what) in [
            (&file, "a file"),
            (&sub, "a directory"),
            (&link, "a symbolic link"),
        ] {
            let e = bind(&spec(path.clone())).await.err().unwrap();
            assert!(
                e.to_string()
                    .contains(&format!("{what} is there, not a socket")),
                "{e}"
            );
        }
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "keep me");
        assert!(sub.is_dir());
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
    }

    #[tokio::test]
    async fn too_long_a_path_is_refused_before_anything_is_made() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x".repeat(120));
        let e = bind(&spec(path.clone())).await.err().unwrap();
        let text = e.to_string();
        assert!(text.contains("at most 107 bytes"), "{text}");
        assert!(text.contains("choose a shorter --socket"), "{text}");
        assert!(!path.exists());
        // 107 bytes exactly is still a socket path.
        let base = dir.path().as_os_str().len() + 1;
        let exact = dir.path().join("y".repeat(MAX_PATH_BYTES - base));
        assert_eq!(exact.as_os_str().len(), MAX_PATH_BYTES);
        drop(bind(&spec(exact)).await.unwrap());
    }

    #[tokio::test]
    async fn a_directory_others_can_write_is_refused_unless_sticky() {
        let dir = tempfile::tempdir().unwrap();
        let open = dir.path().join("open");
        std::fs::create_dir(&open).unwrap();
        std::fs::set_permissions(&open, PermissionsExt::from_mode(0o777)).unwrap();
        let e = bind(&spec(open.join("s"))).await.err().unwrap();
        assert!(
            e.to_string().contains("can be written by every user"),
            "{e}"
        );
        std::fs::set_permissions(&open, PermissionsExt::from_mode(0o775)).unwrap();
        let e = bind(&spec(open.join("s"))).await.err().unwrap();
        assert!(e.to_string().contains("can be written by its group"), "{e}");
        assert!(!open.join("s").exists());
        std::fs::set_permissions(&open, PermissionsExt::from_mode(0o1777)).unwrap();
        drop(bind(&spec(open.join("s"))).await.unwrap());
        let e = bind(&spec(dir.path().join("missing/s")))
            .await
            .err()
            .unwrap();
        assert!(e.to_string().contains("does not exist"), "{e}");
    }

    #[tokio::test]
    async fn an_unknown_group_is_refused_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        let e = bind(&SocketSpec {
            path: path.clone(),
            group: Some("no-such-group-tempi".into()),
        })
        .await
        .err()
        .unwrap();
        assert_eq!(
            e.to_string(),
            "--socket-group no-such-group-tempi: no such group on this machine"
        );
        assert!(!path.exists());
    }

    #[test]
    fn groups_are_found_by_name() {
        assert_eq!(group_id("root").unwrap(), 0);
        assert_eq!(group_id("42").unwrap(), 42);
        assert!(group_id("bad\0name").is_err());
    }

    #[test]
    fn a_socket_left_by_someone_else_is_not_ours_to_remove() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s");
        std::fs::write(&path, "another file took the name").unwrap();
        drop(SocketFile {
            path: path.clone(),
            dev: 0,
            ino: 0,
        });
        assert!(path.exists());
    }
}
