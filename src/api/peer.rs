//! Who is on the other end of a connection: a TCP client, who must show a token, or a
//! user of this machine on the Unix socket, known by the kernel's credentials of the
//! socket (SO_PEERCRED) and named by the password database.

use std::ffi::CStr;

/// The kind of client a connection carries; every request on it has this value in its
/// extensions. A request without one (a router served some other way) counts as TCP.
#[derive(Clone, Debug)]
pub enum Peer {
    /// Over TCP, from this machine or another: a bearer token says who it is.
    Tcp,
    /// Over the Unix socket: the user the kernel says connected.
    Local {
        uid: u32,
        /// The login name of `uid`.
        user: String,
        /// `uid` is the daemon's own (effective) user.
        daemon_user: bool,
    },
}

/// Why a local peer cannot be given a name, said to that peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnknownPeer {
    #[error(
        "uid {0} has no entry in this machine's user database, so it has no login name to act as; \
         tempi serves only named users on its socket (or use TCP with a token)"
    )]
    NoEntry(u32),
    #[error("the login name of uid {0} is not UTF-8; tempi cannot journal it as an actor")]
    NotUtf8(u32),
    #[error("cannot look up uid {uid} in the user database: {reason}")]
    Lookup { uid: u32, reason: String },
    #[error("the socket gave no credentials of the connecting process: {0}")]
    NoCredentials(String),
}

/// The peer of a Unix connection from `uid`, for a daemon running as `daemon_uid`.
pub fn local(uid: u32, daemon_uid: u32) -> Result<Peer, UnknownPeer> {
    Ok(Peer::Local {
        uid,
        user: user_name(uid)?,
        daemon_user: uid == daemon_uid,
    })
}

/// A passwd entry's strings are kept in the caller's buffer; no name needs more than
/// this, and a database answering with more is refused rather than followed.
const MAX_PASSWD_BUFFER: usize = 1 << 20;

/// The login name of `uid` (getpwuid_r, so NSS sources such as LDAP count too).
pub fn user_name(uid: u32) -> Result<String, UnknownPeer> {
    let mut buf = vec![0u8; 1024];
    loop {
        // SAFETY: passwd is plain data; zeroed is a valid value before the call fills it.
        let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
        let mut found: *mut libc::passwd = std::ptr::null_mut();
        // SAFETY: every pointer is valid for the duration of the call and `buf.len()`
        // is the size of the buffer given; the strings it writes live in `buf`.
        let rc = unsafe {
            libc::getpwuid_r(
                uid,
                &mut entry,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut found,
            )
        };
        if rc == libc::ERANGE && buf.len() < MAX_PASSWD_BUFFER {
            buf.resize(buf.len() * 4, 0);
            continue;
        }
        if rc != 0 {
            let reason = std::io::Error::from_raw_os_error(rc).to_string();
            return Err(UnknownPeer::Lookup { uid, reason });
        }
        if found.is_null() || entry.pw_name.is_null() {
            return Err(UnknownPeer::NoEntry(uid));
        }
        // SAFETY: getpwuid_r succeeded, so pw_name points at a NUL-terminated string in
        // `buf`, which is still alive here.
        let name = unsafe { CStr::from_ptr(entry.pw_name) };
        return match name.to_str() {
            Ok("") => Err(UnknownPeer::NoEntry(uid)),
            Ok(n) => Ok(n.to_string()),
            Err(_) => Err(UnknownPeer::NotUtf8(uid)),
        };
    }
}

/// The login name of the user this process runs as (its effective uid), or `$USER`
/// when the user database has no entry for it.
pub fn login_name() -> String {
    let uid = crate::store::private::euid();
    user_name(uid)
        .ok()
        .or_else(|| std::env::var("USER").ok().filter(|u| !u.trim().is_empty()))
        .unwrap_or_else(|| format!("uid{uid}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uid_0_is_root() {
        assert_eq!(user_name(0).as_deref(), Ok("root"));
    }

    #[test]
    fn this_process_has_the_name_id_gives_it() {
        let me = crate::store::private::euid();
        let out = std::process::Command::new("id")
            .arg("-un")
            .output()
            .unwrap();
        let expected = String::from_utf8(out.stdout).unwrap();
        assert_eq!(user_name(me).as_deref(), Ok(expected.trim()));
        match local(me, me).unwrap() {
            Peer::Local {
                uid,
                user,
                daemon_user,
            } => {
                assert_eq!(
                    (uid, user.as_str(), daemon_user),
                    (me, expected.trim(), true)
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn another_uid_is_not_the_daemon_user() {
        let me = crate::store::private::euid();
        let other = if me == 0 { 65534 } else { 0 };
        if let Ok(Peer::Local { daemon_user, .. }) = local(other, me) {
            assert!(!daemon_user);
        }
        // uid 0 always has an entry, so at least one of the two was checked.
        assert!(matches!(
            local(0, 1),
            Ok(Peer::Local {
                daemon_user: false,
                ..
            })
        ));
    }

    #[test]
    fn a_uid_without_an_entry_is_refused_with_how_to_get_in() {
        // Far above any allocated range (and not (uid_t)-1, which means "no change").
        let ghost = 3_999_999_000;
        let e = local(ghost, 0).unwrap_err();
        assert_eq!(e, UnknownPeer::NoEntry(ghost));
        assert!(e.to_string().contains("uid 3999999000 has no entry"), "{e}");
        assert!(e.to_string().contains("TCP with a token"), "{e}");
    }
}
