//! Binding the listening sockets (before any fork, so errors reach the terminal) and
//! reading a UNIX peer's credentials.

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Listening sockets bound but not yet in the event loop.
#[derive(Debug)]
pub enum Bound {
    Tcp(Vec<std::net::TcpListener>),
    Unix {
        listener: std::os::unix::net::UnixListener,
        path: PathBuf,
        /// (device, inode) of the socket file we created, so we remove only our own.
        id: (u64, u64),
    },
}

impl Bound {
    /// What the listening line shows: `127.0.0.1:8082` or `unix:/path`.
    pub fn describe(&self) -> String {
        match self {
            Bound::Tcp(ls) => ls
                .first()
                .and_then(|l| l.local_addr().ok())
                .map(|a| a.to_string())
                .unwrap_or_default(),
            Bound::Unix { path, .. } => format!("unix:{}", path.display()),
        }
    }

    /// Every address, for the startup log line.
    pub fn describe_all(&self) -> Vec<String> {
        match self {
            Bound::Tcp(ls) => ls
                .iter()
                .filter_map(|l| l.local_addr().ok())
                .map(|a| a.to_string())
                .collect(),
            Bound::Unix { .. } => vec![self.describe()],
        }
    }
}

/// Bind `address:port` for TCP. A name resolving to several addresses binds each of them
/// (with `--port 0`, all on the port the first one got).
pub fn bind_tcp(address: &str, port: u16) -> Result<Bound, String> {
    use std::net::ToSocketAddrs;
    let host = address.trim_start_matches('[').trim_end_matches(']');
    let mut addrs: Vec<std::net::SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve --address {address:?}: {e}"))?
        .collect();
    addrs.dedup();
    if addrs.is_empty() {
        return Err(format!("--address {address:?} resolves to no address"));
    }
    let mut listeners = Vec::new();
    let mut port = port;
    for mut addr in addrs {
        if port != 0 {
            addr.set_port(port);
        }
        // std sets SO_REUSEADDR on Unix, as Tornado does.
        let l = match std::net::TcpListener::bind(addr) {
            // e.g. `localhost` also naming ::1 on a host without IPv6: skip it, as Tornado.
            Err(e) if !listeners.is_empty() && e.kind() == std::io::ErrorKind::AddrNotAvailable => {
                log::warn!("skipping {addr}: {e}");
                continue;
            }
            other => other,
        };
        let l = l.map_err(|e| {
            if e.kind() == std::io::ErrorKind::AddrInUse {
                format!("cannot listen on {addr}: the address is already in use (is another scheduler running?)")
            } else {
                format!("cannot listen on {addr}: {e}")
            }
        })?;
        if port == 0 {
            port = l.local_addr().map(|a| a.port()).unwrap_or(0);
        }
        listeners.push(l);
    }
    Ok(Bound::Tcp(listeners))
}

/// Bind a UNIX socket at `path` with permission bits `mode`. A socket file left by a dead
/// server is replaced; a live server's socket and any other kind of file are refused.
pub fn bind_unix(path: &Path, mode: u32) -> Result<Bound, String> {
    let shown = path.display();
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_socket() => match std::os::unix::net::UnixStream::connect(path) {
            Ok(_) => {
                return Err(format!(
                    "{shown}: another server is listening on this socket"
                ))
            }
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {
                log::info!("removing stale socket {shown} left by a server that is gone");
                std::fs::remove_file(path)
                    .map_err(|e| format!("{shown}: cannot remove stale socket: {e}"))?;
            }
            Err(e) => return Err(format!("{shown}: exists and cannot be checked: {e}")),
        },
        Ok(_) => {
            return Err(format!(
                "{shown}: exists and is not a socket; refusing to replace it"
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(format!("{shown}: {e}")),
    }
    // Create the file without group/other access, then widen it to the configured mode, so
    // no one else can connect in between. Startup is single-threaded, so umask is safe here.
    // SAFETY: umask only swaps the process's file mode creation mask.
    let old = unsafe { libc::umask(0o177) };
    let bound = std::os::unix::net::UnixListener::bind(path);
    // SAFETY: as above, restoring the previous mask.
    unsafe { libc::umask(old) };
    let listener = bound.map_err(|e| format!("cannot listen on unix socket {shown}: {e}"))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("{shown}: cannot set mode {mode:o}: {e}"))?;
    let meta = std::fs::symlink_metadata(path).map_err(|e| format!("{shown}: {e}"))?;
    Ok(Bound::Unix {
        listener,
        path: path.to_path_buf(),
        id: (meta.dev(), meta.ino()),
    })
}

/// Remove our socket file on a clean exit (only when it is still the one we created).
pub fn remove_socket_file(path: &Path, id: (u64, u64)) {
    if let Ok(m) = std::fs::symlink_metadata(path) {
        if m.file_type().is_socket() && (m.dev(), m.ino()) == id {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The uid of the process at the other end of a UNIX socket.
#[cfg(target_os = "linux")]
pub fn peer_uid(fd: std::os::unix::io::RawFd) -> Option<u32> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: fd is an open socket; cred and len are valid for writes of the sizes given.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            &mut cred as *mut libc::ucred as *mut libc::c_void,
            &mut len,
        )
    };
    (rc == 0).then_some(cred.uid)
}

#[cfg(not(target_os = "linux"))]
pub fn peer_uid(fd: std::os::unix::io::RawFd) -> Option<u32> {
    let mut uid: libc::uid_t = 0;
    let mut gid: libc::gid_t = 0;
    // SAFETY: fd is an open socket; uid and gid are valid for writes.
    let rc = unsafe { libc::getpeereid(fd, &mut uid, &mut gid) };
    (rc == 0).then_some(uid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unix_socket_stale_live_and_non_socket() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let first = bind_unix(&path, 0o600).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(first.describe(), format!("unix:{}", path.display()));
        // Live: refused.
        let e = bind_unix(&path, 0o600).unwrap_err();
        assert!(e.contains("another server"), "{e}");
        // Stale (listener gone, file left): replaced, with the configured mode.
        drop(first);
        let again = bind_unix(&path, 0o660).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o660);
        // Our uid on a connected pair.
        let client = std::os::unix::net::UnixStream::connect(&path).unwrap();
        use std::os::unix::io::AsRawFd;
        // SAFETY: getuid has no preconditions.
        assert_eq!(
            peer_uid(client.as_raw_fd()),
            Some(unsafe { libc::getuid() })
        );
        if let Bound::Unix { path, id, .. } = &again {
            remove_socket_file(path, *id);
        }
        assert!(!path.exists());
        // Not a socket: refused, file untouched.
        std::fs::write(&path, "data").unwrap();
        let e = bind_unix(&path, 0o600).unwrap_err();
        assert!(e.contains("not a socket"), "{e}");
        assert_eq!(std::fs::read(&path).unwrap(), b"data");
    }

    #[test]
    fn tcp_port_zero_and_in_use() {
        let b = bind_tcp("127.0.0.1", 0).unwrap();
        let shown = b.describe();
        assert!(
            shown.starts_with("127.0.0.1:") && !shown.ends_with(":0"),
            "{shown}"
        );
        let port: u16 = shown.rsplit(':').next().unwrap().parse().unwrap();
        let e = bind_tcp("127.0.0.1", port).unwrap_err();
        assert!(e.contains("already in use"), "{e}");
        assert!(bind_tcp("no such host.invalid", 0).is_err());
    }
}
