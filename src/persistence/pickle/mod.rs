//! luigid's state file (a Python pickle of `SimpleTaskState.get_state()`, see
//! luigi/scheduler.py) read natively, without Python: a data-only pickle VM
//! ([`vm`]) that knows only the classes luigid writes, and the mapping of its objects
//! onto our scheduler ([`luigid`], then `Scheduler::from_luigi_export`).
//!
//! At startup a pickle at `state_path` is imported once: the original bytes are kept
//! under `<state_path>.luigid-<unix time>` (a hard link, or a copy where links are not
//! possible; never an overwrite), then our own snapshot replaces it at `state_path`.

pub mod luigid;
pub mod vm;

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::journal;
use super::snapshot;
use crate::scheduler::{Scheduler, SchedulerConfig};

pub use luigid::Counts;

/// Why a pickle could not be read. Offsets are byte offsets into the file.
#[derive(Debug, Clone, PartialEq)]
pub enum PickleError {
    /// The file ends inside an opcode, or a length runs past its end.
    Truncated {
        offset: usize,
        opcode: u8,
        wanted: u64,
        left: u64,
    },
    UnknownOpcode {
        offset: usize,
        opcode: u8,
    },
    /// A class or function outside the allow-list: refused by name, never looked up.
    ForbiddenGlobal {
        offset: usize,
        module: String,
        name: String,
    },
    /// A pickle protocol newer than 5.
    Protocol(u8),
    /// An opcode used in a way CPython's pickler never does.
    Malformed {
        offset: usize,
        opcode: u8,
        why: String,
    },
    /// A bound that keeps hostile input from exhausting memory or stack.
    Limit {
        offset: usize,
        what: &'static str,
    },
    /// Valid pickle, but not luigid's state as luigi/scheduler.py writes it.
    Shape(String),
}

impl std::fmt::Display for PickleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PickleError::Truncated {
                offset,
                opcode,
                wanted,
                left,
            } => write!(
                f,
                "truncated pickle: opcode 0x{opcode:02x} at offset {offset} needs {wanted} \
                 bytes, {left} left"
            ),
            PickleError::UnknownOpcode { offset, opcode } => {
                write!(f, "unknown pickle opcode 0x{opcode:02x} at offset {offset}")
            }
            PickleError::ForbiddenGlobal {
                offset,
                module,
                name,
            } => write!(
                f,
                "the pickle names {module}.{name} at offset {offset}, which is not one of \
                 the classes luigid writes; refused"
            ),
            PickleError::Protocol(p) => write!(f, "pickle protocol {p} is not supported (2-5)"),
            PickleError::Malformed {
                offset,
                opcode,
                why,
            } => write!(
                f,
                "malformed pickle: opcode 0x{opcode:02x} at offset {offset}: {why}"
            ),
            PickleError::Limit { offset, what } => {
                write!(f, "pickle exceeds the limit on {what} (at offset {offset})")
            }
            PickleError::Shape(why) => write!(f, "not a luigid state: {why}"),
        }
    }
}

impl std::error::Error for PickleError {}

/// The end of the refusal message when an import fails.
pub const KEPT: &str = "The file was left untouched. To start with an empty state anyway, \
     run with --start-empty (or [luigid_rs] start_empty = true): the file is then moved \
     aside with a .corrupt-<time> suffix, never deleted";

/// Whether `data` looks like a pickle of protocol 2 or later (it starts with PROTO).
pub fn looks_like_pickle(data: &[u8]) -> bool {
    data.first() == Some(&0x80)
}

/// luigid's state pickle as the export `Scheduler::from_luigi_export` reads.
pub fn luigid_export(bytes: &[u8]) -> Result<(Value, Counts, u8), PickleError> {
    let p = vm::run(bytes)?;
    // Values are converted recursively (up to luigid::MAX_DEPTH levels): on a thread
    // whose stack holds that whatever the caller's stack is.
    let (v, counts) = std::thread::scope(|scope| {
        std::thread::Builder::new()
            .name("pickle-import".into())
            .stack_size(64 << 20)
            .spawn_scoped(scope, || luigid::export(&p))
            .map_err(|e| PickleError::Shape(format!("cannot start the import thread: {e}")))?
            .join()
            .unwrap_or_else(|_| Err(PickleError::Shape("the import failed".into())))
    })?;
    Ok((v, counts, p.protocol))
}

/// Build our scheduler from the bytes of luigid's state pickle.
pub fn load_luigid_pickle(bytes: &[u8], cfg: SchedulerConfig) -> Result<Scheduler, PickleError> {
    let (v, _, _) = luigid_export(bytes)?;
    Scheduler::from_luigi_export(&v, cfg).map_err(PickleError::Shape)
}

/// What [`import_at_startup`] did, for the log.
#[derive(Debug)]
pub struct Imported {
    pub aside: PathBuf,
    pub counts: Counts,
    pub notes: Vec<String>,
    pub warnings: Vec<String>,
}

/// If `path` holds luigid's pickle, import it: keep the original aside, write our
/// snapshot (journal generation 0) at `path`. `Ok(None)`: not a pickle (or no file).
/// On error nothing on disk has changed except, possibly, the aside copy.
///
/// The scheduler settings are not known here; the App applies them to the loaded
/// state, and tasks whose pickle lacks a retry policy take luigid's defaults.
pub fn import_at_startup(path: &Path, now: f64) -> Result<Option<Imported>, String> {
    let cannot = |e: io::Error| format!("cannot read state file {}: {e}", path.display());
    let mut file = match std::fs::File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(cannot(e)),
    };
    // Our own snapshots are read by persistence::snapshot: only the first byte is
    // looked at here, not the whole (possibly large) file.
    let mut first = [0u8; 1];
    if io::Read::read(&mut file, &mut first).map_err(cannot)? == 0 || !looks_like_pickle(&first) {
        return Ok(None);
    }
    let mut data = first.to_vec();
    io::Read::read_to_end(&mut file, &mut data).map_err(cannot)?;
    let started = std::time::Instant::now();
    let (export, counts, protocol) = luigid_export(&data).map_err(|e| e.to_string())?;
    let sched = Scheduler::from_luigi_export(&export, SchedulerConfig::default())
        .map_err(|e| format!("not a luigid state: {e}"))?;
    drop(export);
    let aside = keep_aside(path, &data, now)
        .map_err(|e| format!("cannot keep a copy of {}: {e}", path.display()))?;
    let mut warnings = Vec::new();
    // Journals beside a pickle belong to an earlier luigid-rs run that luigid has since
    // replaced: replaying them onto luigid's state would be wrong.
    for g in journal::list_generations(path).map_err(|e| e.to_string())? {
        let jp = journal::journal_path(path, g);
        let dest = suffixed(&jp, &format!(".stale-{}", now as u64));
        std::fs::rename(&jp, &dest).map_err(|e| format!("cannot move {}: {e}", jp.display()))?;
        warnings.push(format!(
            "journal {} predates luigid's state file; moved to {}",
            jp.display(),
            dest.display()
        ));
    }
    snapshot::write_atomic(path, 0, now, &sched, false, &Default::default())
        .map_err(|e| format!("cannot write the imported state to {}: {e}", path.display()))?;
    let notes = vec![format!(
        "imported luigid's state file {} (pickle protocol {protocol}) in {:.1} s: {} tasks, \
         {} workers, {} task batchers; the original is kept at {} and state is saved in \
         luigid-rs's format from now on",
        path.display(),
        started.elapsed().as_secs_f64(),
        counts.tasks,
        counts.workers,
        counts.batchers,
        aside.display()
    )];
    Ok(Some(Imported {
        aside,
        counts,
        notes,
        warnings,
    }))
}

fn suffixed(path: &Path, suffix: &str) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

/// A second name for the original file (`<path>.luigid-<time>`, `.1`, `.2`... when
/// taken), made durable before the state file is replaced.
fn keep_aside(path: &Path, data: &[u8], now: f64) -> io::Result<PathBuf> {
    let base = suffixed(path, &format!(".luigid-{}", now as u64));
    for n in 0..100 {
        let dest = if n == 0 {
            base.clone()
        } else {
            suffixed(&base, &format!(".{n}"))
        };
        match std::fs::hard_link(path, &dest) {
            Ok(()) => {
                journal::sync_parent(&dest)?;
                return Ok(dest);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(_) => {}
        }
        // No hard links here (some file systems): a copy, never over an existing file.
        match OpenOptions::new().write(true).create_new(true).open(&dest) {
            Ok(mut f) => {
                f.write_all(data)?;
                f.sync_all()?;
                journal::sync_parent(&dest)?;
                return Ok(dest);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::other("no free name for the copy"))
}

#[cfg(test)]
mod tests;
