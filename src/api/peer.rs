//! Who is on the other end of a connection: a TCP client, or a local user on the Unix
//! socket, known by the uid the kernel vouches for (SO_PEERCRED).

/// Put into every request's extensions by the accept loop.
#[derive(Clone, Debug)]
pub enum Peer {
    Tcp,
    Local {
        uid: u32,
        user: String,
        /// The peer runs as the daemon's own user.
        daemon_user: bool,
    },
}
