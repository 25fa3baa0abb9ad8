//! Snapshots: the whole scheduler state as one versioned JSON document, written
//! atomically (temp file in the same directory, fsync, rename, fsync the directory).
//!
//! ```json
//! {"format": "luigid-rs-state", "version": 1, "journal_gen": 7, "saved_at": 1795504285.1,
//!  "state": { ...the scheduler's own serde form... }}
//! ```
//! `journal_gen` names the first journal generation that holds changes made after this
//! snapshot was taken; recovery replays that generation and every later one.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_json::Value;

use super::journal::sync_parent;

pub const FORMAT: &str = "luigid-rs-state";
pub const VERSION: u64 = 1;

#[derive(Serialize)]
struct SnapshotOut<'a, T: Serialize> {
    format: &'static str,
    version: u64,
    journal_gen: u64,
    saved_at: f64,
    state: &'a T,
}

/// A snapshot as read back.
#[derive(Debug)]
pub struct Loaded {
    pub journal_gen: u64,
    pub saved_at: f64,
    /// The scheduler state, already migrated to the current version.
    pub state: Value,
}

#[derive(Debug)]
pub enum LoadError {
    /// The file exists but cannot be used; nothing was changed on disk.
    Corrupt {
        path: PathBuf,
        why: String,
    },
    Io(io::Error),
}

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LoadError::Corrupt { path, why } => write!(f, "{}: {why}", path.display()),
            LoadError::Io(e) => write!(f, "{e}"),
        }
    }
}

fn temp_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".tmp.{}", std::process::id()));
    PathBuf::from(s)
}

/// Write `state` to `path` atomically. `crash_after_temp` is a test hook that stops
/// between the temp write and the rename, as a crash there would.
pub fn write_atomic<T: Serialize>(
    path: &Path,
    journal_gen: u64,
    saved_at: f64,
    state: &T,
    crash_after_temp: bool,
) -> io::Result<()> {
    let tmp = temp_path(path);
    let file = OpenOptions::new()
        .create(true)
        .write(true)
        .truncate(true)
        .open(&tmp)?;
    let mut w = BufWriter::with_capacity(1 << 20, file);
    let doc = SnapshotOut {
        format: FORMAT,
        version: VERSION,
        journal_gen,
        saved_at,
        state,
    };
    serde_json::to_writer(&mut w, &doc).map_err(io::Error::other)?;
    w.write_all(b"\n")?;
    let file = w.into_inner().map_err(|e| e.into_error())?;
    file.sync_all()?;
    drop(file);
    if crash_after_temp {
        return Err(io::Error::other("simulated crash before the rename"));
    }
    std::fs::rename(&tmp, path)?;
    sync_parent(path)
}

/// Read the snapshot at `path`. `Ok(None)`: no file (a normal first start).
pub fn read(path: &Path) -> Result<Option<Loaded>, LoadError> {
    let mut data = Vec::new();
    match File::open(path) {
        Ok(mut f) => f.read_to_end(&mut data).map_err(LoadError::Io)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(LoadError::Io(e)),
    };
    let corrupt = |why: String| LoadError::Corrupt {
        path: path.to_path_buf(),
        why,
    };
    if data.first() == Some(&0x80) {
        return Err(corrupt(
            "a Python pickle that is not a state luigid-rs can import (see the error above)".into(),
        ));
    }
    let doc: Value = serde_json::from_slice(&data)
        .map_err(|e| corrupt(format!("not a readable snapshot ({e})")))?;
    if doc.get("format").and_then(Value::as_str) != Some(FORMAT) {
        return Err(corrupt(format!("no \"format\": \"{FORMAT}\" field")));
    }
    let version = doc
        .get("version")
        .and_then(Value::as_u64)
        .ok_or_else(|| corrupt("no version field".into()))?;
    let journal_gen = doc
        .get("journal_gen")
        .and_then(Value::as_u64)
        .ok_or_else(|| corrupt("no journal_gen field".into()))?;
    let saved_at = doc.get("saved_at").and_then(Value::as_f64).unwrap_or(0.0);
    let state = doc
        .get("state")
        .cloned()
        .ok_or_else(|| corrupt("no state field".into()))?;
    let state = migrate(state, version).map_err(corrupt)?;
    Ok(Some(Loaded {
        journal_gen,
        saved_at,
        state,
    }))
}

/// Bring an older snapshot's state to the current version. Each future version adds
/// one step here (v1 -> v2, v2 -> v3, ...), so every old file stays readable.
fn migrate(state: Value, version: u64) -> Result<Value, String> {
    match version {
        VERSION => Ok(state),
        v if v > VERSION => Err(format!(
            "snapshot version {v} is newer than this luigid-rs understands ({VERSION})"
        )),
        v => Err(format!("unknown snapshot version {v}")),
    }
}

/// Move an unusable snapshot aside (never delete it) and return where it went.
pub fn move_aside(path: &Path, now: f64) -> io::Result<PathBuf> {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".corrupt-{}", now as u64));
    let dest = PathBuf::from(s);
    std::fs::rename(path, &dest)?;
    sync_parent(path)?;
    Ok(dest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn write_then_read_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        let state = json!({"tasks": {"A": {"status": "PENDING"}}, "paused": true});
        write_atomic(&p, 4, 123.5, &state, false).unwrap();
        let l = read(&p).unwrap().unwrap();
        assert_eq!(l.journal_gen, 4);
        assert_eq!(l.saved_at, 123.5);
        assert_eq!(l.state, state);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temp left"
        );
    }

    #[test]
    fn crash_between_temp_and_rename_keeps_old_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        write_atomic(&p, 1, 1.0, &json!({"v": 1}), false).unwrap();
        assert!(write_atomic(&p, 2, 2.0, &json!({"v": 2}), true).is_err());
        let l = read(&p).unwrap().unwrap();
        assert_eq!(l.state, json!({"v": 1}));
        assert_eq!(l.journal_gen, 1);
    }

    #[test]
    fn missing_is_none_and_garbage_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        assert!(read(&p).unwrap().is_none());
        for bad in [
            &b"{\"format\": \"luigid-rs-state\", \"vers"[..],
            b"hello",
            b"{\"format\": \"other\", \"version\": 1}",
            b"{\"format\": \"luigid-rs-state\", \"version\": 99, \"journal_gen\": 0, \"state\": {}}",
            b"\x80\x04\x95pickle",
        ] {
            std::fs::write(&p, bad).unwrap();
            match read(&p) {
                Err(LoadError::Corrupt { .. }) => {}
                other => panic!("expected corrupt for {bad:?}, got {other:?}"),
            }
            assert!(p.exists(), "a corrupt snapshot is never removed by reading");
        }
        let moved = move_aside(&p, 1700000000.0).unwrap();
        assert!(!p.exists());
        assert!(moved.to_string_lossy().ends_with(".corrupt-1700000000"));
    }
}
