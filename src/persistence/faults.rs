//! Injected file-operation failures, for tests of what the journal and snapshots do when
//! the disk misbehaves (ENOSPC, EIO, a failed fsync or rename).
//!
//! Every write path of [`super::journal`] and [`super::snapshot`] asks [`Faults::check`]
//! before the real operation. In a server the set is empty and the check is one branch;
//! tests arm an operation with an errno and get that error instead of the real call.

use std::io;
use std::sync::{Arc, Mutex};

/// The file operations that can be made to fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Appending records to the journal (a torn append writes half, then fails).
    Append,
    /// fdatasync of the journal.
    Sync,
    /// Reserving journal space ahead of the appends (fallocate).
    Allocate,
    /// Creating a new journal generation (rotation before a snapshot, recovery).
    Rotate,
    /// Cutting a journal back to its last whole record.
    Truncate,
    /// fsync of the directory after a create or rename.
    SyncDir,
    /// Writing the snapshot's temp file.
    SnapshotWrite,
    /// fsync of the snapshot's temp file.
    SnapshotSync,
    /// Renaming the snapshot's temp file into place.
    Rename,
}

#[derive(Debug, Clone, Copy)]
struct Armed {
    op: Op,
    errno: i32,
    /// How many more calls fail (None: until disarmed).
    times: Option<u32>,
}

/// A shared set of armed failures (cheap to clone; empty in a server).
#[derive(Debug, Clone, Default)]
pub struct Faults(Option<Arc<Mutex<Vec<Armed>>>>);

impl Faults {
    /// A set tests can arm.
    pub fn armable() -> Faults {
        Faults(Some(Arc::new(Mutex::new(Vec::new()))))
    }

    /// Make `op` fail with `errno` until [`Faults::disarm`].
    pub fn fail(&self, op: Op, errno: i32) {
        self.push(Armed {
            op,
            errno,
            times: None,
        });
    }

    /// Make the next `times` calls of `op` fail with `errno`.
    pub fn fail_times(&self, op: Op, errno: i32, times: u32) {
        self.push(Armed {
            op,
            errno,
            times: Some(times),
        });
    }

    fn push(&self, a: Armed) {
        if let Some(m) = &self.0 {
            if let Ok(mut v) = m.lock() {
                v.retain(|x| x.op != a.op);
                v.push(a);
            }
        }
    }

    pub fn disarm(&self, op: Op) {
        if let Some(m) = &self.0 {
            if let Ok(mut v) = m.lock() {
                v.retain(|x| x.op != op);
            }
        }
    }

    pub fn disarm_all(&self) {
        if let Some(m) = &self.0 {
            if let Ok(mut v) = m.lock() {
                v.clear();
            }
        }
    }

    /// The injected error for `op`, if one is armed.
    pub fn check(&self, op: Op) -> io::Result<()> {
        let Some(m) = &self.0 else {
            return Ok(());
        };
        let Ok(mut v) = m.lock() else {
            return Ok(());
        };
        let Some(i) = v.iter().position(|a| a.op == op) else {
            return Ok(());
        };
        let errno = v[i].errno;
        if let Some(t) = v[i].times.as_mut() {
            *t = t.saturating_sub(1);
            if *t == 0 {
                v.remove(i);
            }
        }
        Err(io::Error::from_raw_os_error(errno))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unarmed_never_fails_and_armed_fails_as_told() {
        assert!(Faults::default().check(Op::Append).is_ok());
        let f = Faults::armable();
        assert!(f.check(Op::Sync).is_ok());
        f.fail_times(Op::Sync, libc::EIO, 2);
        f.fail(Op::Append, libc::ENOSPC);
        assert_eq!(
            f.check(Op::Sync).unwrap_err().raw_os_error(),
            Some(libc::EIO)
        );
        assert!(f.check(Op::Sync).is_err());
        assert!(f.check(Op::Sync).is_ok(), "only twice");
        for _ in 0..3 {
            let e = f.check(Op::Append).unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::ENOSPC));
        }
        f.clone().disarm(Op::Append);
        assert!(f.check(Op::Append).is_ok(), "clones share the set");
    }
}
