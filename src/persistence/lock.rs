//! One server per state: an exclusive `flock` on `<state_path>.lock`, taken before the
//! state is read and held for the life of the process. The kernel drops it when the
//! process ends, however it ends (kill -9 included), so there is nothing to clean up.
//! The file holds the holder's PID, for the message a second server prints.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, Write};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub struct StateLock {
    file: File,
    pub path: PathBuf,
}

/// Why the lock was not taken.
#[derive(Debug)]
pub enum LockError {
    /// Another process holds it.
    Held {
        lock_path: PathBuf,
        holder: Option<u32>,
    },
    Io {
        lock_path: PathBuf,
        source: io::Error,
    },
}

impl std::fmt::Display for LockError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LockError::Held { lock_path, holder } => {
                let who = match holder {
                    Some(pid) => format!("process {pid}"),
                    None => "another process".to_string(),
                };
                let state = lock_path.with_extension("");
                write!(
                    f,
                    "{who} already serves the state at {} (it holds the lock {}); two \
                     servers on one state would overwrite each other's journal. Stop it \
                     first.",
                    state.display(),
                    lock_path.display()
                )
            }
            LockError::Io { lock_path, source } => {
                write!(f, "cannot lock {}: {source}", lock_path.display())
            }
        }
    }
}

pub fn lock_path(state_path: &Path) -> PathBuf {
    let mut s = state_path.as_os_str().to_owned();
    s.push(".lock");
    PathBuf::from(s)
}

impl StateLock {
    /// Take the lock of the state at `state_path`, or say who holds it.
    pub fn acquire(state_path: &Path) -> Result<StateLock, LockError> {
        let path = lock_path(state_path);
        let io_err = |source| LockError::Io {
            lock_path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io_err)?;
        // SAFETY: flock on our own open descriptor.
        let r = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
        if r != 0 {
            let e = io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                return Err(LockError::Held {
                    lock_path: path.clone(),
                    holder: text.trim().parse().ok(),
                });
            }
            return Err(io_err(e));
        }
        // The PID is a courtesy for the message above; failing to write it (a full disk)
        // does not weaken the lock.
        let _ = file.set_len(0);
        let _ = file.rewind();
        let _ = writeln!(file, "{}", std::process::id());
        Ok(StateLock { file, path })
    }

    /// The descriptor, for a forked child to close (see `persistence`).
    pub fn raw_fd(&self) -> i32 {
        self.file.as_raw_fd()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_holder_is_refused_with_the_first_pid_and_release_frees_it() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.json");
        let first = StateLock::acquire(&state).unwrap();
        // flock locks belong to the open file, so a second open in this process is
        // refused just as another process would be.
        match StateLock::acquire(&state) {
            Err(LockError::Held { holder, lock_path }) => {
                assert_eq!(holder, Some(std::process::id()));
                assert_eq!(lock_path, dir.path().join("state.json.lock"));
            }
            other => panic!("{other:?}"),
        }
        let msg = StateLock::acquire(&state).unwrap_err().to_string();
        assert!(msg.contains(&std::process::id().to_string()), "{msg}");
        assert!(
            msg.contains(&format!("the state at {}", state.display())),
            "{msg}"
        );
        drop(first);
        StateLock::acquire(&state).unwrap();
    }
}
