//! Snapshots: the whole scheduler state as one versioned JSON document, written
//! atomically (temp file in the same directory, fsync, rename, fsync the directory).
//!
//! ```text
//! {"format": "luigid-rs-state", "version": 2, "journal_gen": 7, "saved_at": 1795504285.1,
//!  "state": { ...the scheduler's own serde form... }}
//! #crc32 1a2b3c4d 123456
//! ```
//! `journal_gen` names the first journal generation that holds changes made after this
//! snapshot was taken; recovery replays that generation and every later one. The last
//! line (since version 2) holds the CRC-32 and length of the document line before it: a
//! flipped bit or a cut file is found before anything is loaded. Version 1 files (no
//! checksum line) are still read.
//!
//! Loading parses straight into the scheduler's types: no intermediate tree of the whole
//! document, whose many small allocations stayed in the heap after a restart.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::faults::{Faults, Op};
use super::journal::sync_parent;

pub const FORMAT: &str = "luigid-rs-state";
pub const VERSION: u64 = 2;
const CRC_LINE_PREFIX: &[u8] = b"#crc32 ";

#[derive(Serialize)]
struct SnapshotOut<'a, T: Serialize> {
    format: &'static str,
    version: u64,
    journal_gen: u64,
    saved_at: f64,
    state: &'a T,
}

#[derive(Deserialize)]
struct Header {
    format: Option<String>,
    version: Option<u64>,
}

#[derive(Deserialize)]
struct SnapshotIn<T> {
    format: Option<String>,
    version: Option<u64>,
    journal_gen: u64,
    #[serde(default)]
    saved_at: f64,
    state: T,
}

/// A snapshot as read back.
#[derive(Debug)]
pub struct Loaded<T> {
    pub journal_gen: u64,
    pub saved_at: f64,
    pub state: T,
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

/// A writer that keeps the CRC-32 and length of what passes through it.
struct Crc<W> {
    inner: W,
    hasher: crc32fast::Hasher,
    len: u64,
}

impl<W: Write> Write for Crc<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.len += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// Write `state` to `path` atomically. `crash_after_temp` is a test hook that stops
/// between the temp write and the rename, as a crash there would.
pub fn write_atomic<T: Serialize>(
    path: &Path,
    journal_gen: u64,
    saved_at: f64,
    state: &T,
    crash_after_temp: bool,
    faults: &Faults,
) -> io::Result<()> {
    let tmp = temp_path(path);
    let result = (|| {
        let file = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(&tmp)?;
        let mut w = Crc {
            inner: BufWriter::with_capacity(1 << 20, file),
            hasher: crc32fast::Hasher::new(),
            len: 0,
        };
        let doc = SnapshotOut {
            format: FORMAT,
            version: VERSION,
            journal_gen,
            saved_at,
            state,
        };
        faults.check(Op::SnapshotWrite)?;
        serde_json::to_writer(&mut w, &doc).map_err(io::Error::other)?;
        w.write_all(b"\n")?;
        let (crc, len) = (w.hasher.clone().finalize(), w.len);
        let mut w = w.inner;
        writeln!(w, "#crc32 {crc:08x} {len}")?;
        let file = w.into_inner().map_err(|e| e.into_error())?;
        faults.check(Op::SnapshotSync)?;
        file.sync_all()?;
        drop(file);
        if crash_after_temp {
            return Err(io::Error::other("simulated crash before the rename"));
        }
        faults.check(Op::Rename)?;
        std::fs::rename(&tmp, path)?;
        faults.check(Op::SyncDir)?;
        sync_parent(path)
    })();
    if result.is_err() && !crash_after_temp {
        // A full disk must not keep the half-written copy holding the space.
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Read the snapshot at `path`. `Ok(None)`: no file, or an empty one (a normal first
/// start: provisioning tools and Luigi's own tests create the file before the server).
pub fn read<T: DeserializeOwned>(path: &Path) -> Result<Option<Loaded<T>>, LoadError> {
    let mut data = Vec::new();
    match File::open(path) {
        Ok(mut f) => f.read_to_end(&mut data).map_err(LoadError::Io)?,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(LoadError::Io(e)),
    };
    if data.is_empty() {
        return Ok(None);
    }
    let corrupt = |why: String| LoadError::Corrupt {
        path: path.to_path_buf(),
        why,
    };
    if data.first() == Some(&0x80) {
        return Err(corrupt(
            "a Python pickle that is not a state luigid-rs can import (see the error above)".into(),
        ));
    }
    let (doc, checked) = split_checksum(&data).map_err(corrupt)?;
    // One pass builds the state; only when it fails is the document read again for its
    // header alone, so that a file of another kind or version says so.
    let parsed: Result<SnapshotIn<T>, _> = serde_json::from_slice(doc);
    let header = match &parsed {
        Ok(snap) => Header {
            format: snap.format.clone(),
            version: snap.version,
        },
        Err(e) => serde_json::from_slice::<Header>(doc)
            .map_err(|_| corrupt(format!("not a readable snapshot ({e})")))?,
    };
    if header.format.as_deref() != Some(FORMAT) {
        return Err(corrupt(format!("no \"format\": \"{FORMAT}\" field")));
    }
    let version = header
        .version
        .ok_or_else(|| corrupt("no version field".into()))?;
    match version {
        1 => {}
        VERSION if checked => {}
        VERSION => return Err(corrupt("its checksum line is missing (a cut file?)".into())),
        v if v > VERSION => {
            return Err(corrupt(format!(
                "snapshot version {v} is newer than this luigid-rs understands ({VERSION})"
            )))
        }
        v => return Err(corrupt(format!("unknown snapshot version {v}"))),
    }
    let snap = parsed.map_err(|e| corrupt(format!("not a readable snapshot ({e})")))?;
    drop(data);
    Ok(Some(Loaded {
        journal_gen: snap.journal_gen,
        saved_at: snap.saved_at,
        state: snap.state,
    }))
}

/// The document of a snapshot file and whether a checksum line vouched for it. A
/// checksum line that does not match is an error.
fn split_checksum(data: &[u8]) -> Result<(&[u8], bool), String> {
    let body = data.strip_suffix(b"\n").unwrap_or(data);
    let Some(nl) = body.iter().rposition(|&b| b == b'\n') else {
        return Ok((data, false));
    };
    let line = &body[nl + 1..];
    let Some(rest) = line.strip_prefix(CRC_LINE_PREFIX) else {
        return Ok((data, false));
    };
    let text = std::str::from_utf8(rest).map_err(|_| "unreadable checksum line".to_string())?;
    let mut parts = text.split(' ');
    let (Some(crc), Some(len), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(format!("unreadable checksum line {text:?}"));
    };
    let crc = u32::from_str_radix(crc, 16).map_err(|_| format!("unreadable checksum {crc:?}"))?;
    let len: usize = len
        .parse()
        .map_err(|_| format!("unreadable length {len:?}"))?;
    let doc = &data[..nl + 1];
    if doc.len() != len {
        return Err(format!(
            "the file holds {} bytes before its checksum line, the line says {len} (cut or \
             extended)",
            doc.len()
        ));
    }
    let actual = crc32fast::hash(doc);
    if actual != crc {
        return Err(format!(
            "checksum mismatch: the file's CRC-32 is {actual:08x}, its checksum line says \
             {crc:08x} (damaged on disk)"
        ));
    }
    Ok((doc, true))
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
    use serde_json::{json, Value};

    fn read_value(p: &Path) -> Result<Option<Loaded<Value>>, LoadError> {
        read::<Value>(p)
    }

    #[test]
    fn write_then_read_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        let state = json!({"tasks": {"A": {"status": "PENDING"}}, "paused": true});
        write_atomic(&p, 4, 123.5, &state, false, &Faults::default()).unwrap();
        let l = read_value(&p).unwrap().unwrap();
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
        let f = Faults::default();
        write_atomic(&p, 1, 1.0, &json!({"v": 1}), false, &f).unwrap();
        assert!(write_atomic(&p, 2, 2.0, &json!({"v": 2}), true, &f).is_err());
        let l = read_value(&p).unwrap().unwrap();
        assert_eq!(l.state, json!({"v": 1}));
        assert_eq!(l.journal_gen, 1);
    }

    #[test]
    fn every_failing_step_keeps_the_old_snapshot_and_leaves_no_temp() {
        for op in [Op::SnapshotWrite, Op::SnapshotSync, Op::Rename] {
            let dir = tempfile::tempdir().unwrap();
            let p = dir.path().join("state.json");
            let f = Faults::armable();
            write_atomic(&p, 1, 1.0, &json!({"v": 1}), false, &f).unwrap();
            f.fail(op, libc::ENOSPC);
            let e = write_atomic(&p, 2, 2.0, &json!({"v": 2}), false, &f).unwrap_err();
            assert_eq!(e.raw_os_error(), Some(libc::ENOSPC), "{op:?}");
            assert_eq!(read_value(&p).unwrap().unwrap().state, json!({"v": 1}));
            assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "{op:?}");
        }
    }

    #[test]
    fn a_flipped_byte_anywhere_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        let state = json!({"tasks": {"A": {"status": "PENDING", "n": 12}}, "paused": false});
        write_atomic(&p, 3, 9.0, &state, false, &Faults::default()).unwrap();
        let good = std::fs::read(&p).unwrap();
        for off in 0..good.len() {
            let mut bad = good.clone();
            bad[off] ^= 0x04;
            std::fs::write(&p, &bad).unwrap();
            match read_value(&p) {
                Err(LoadError::Corrupt { why, .. }) => assert!(!why.is_empty()),
                other => panic!("byte {off}: {other:?}"),
            }
        }
        // Cut at any length: never loaded as something else.
        for cut in 1..good.len() - 1 {
            std::fs::write(&p, &good[..cut]).unwrap();
            assert!(read_value(&p).is_err(), "cut at {cut}");
        }
    }

    #[test]
    fn version_1_without_checksum_still_loads() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        std::fs::write(
            &p,
            br#"{"format": "luigid-rs-state", "version": 1, "journal_gen": 2, "saved_at": 5.0, "state": {"a": 1}}
"#,
        )
        .unwrap();
        let l = read_value(&p).unwrap().unwrap();
        assert_eq!((l.journal_gen, l.state), (2, json!({"a": 1})));
    }

    #[test]
    fn missing_or_empty_is_none_and_garbage_is_corrupt() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        assert!(read_value(&p).unwrap().is_none());
        std::fs::write(&p, b"").unwrap();
        assert!(
            read_value(&p).unwrap().is_none(),
            "an empty file is an empty state"
        );
        for bad in [
            &b"{\"format\": \"luigid-rs-state\", \"vers"[..],
            b"hello",
            b"{\"format\": \"other\", \"version\": 1}",
            b"{\"format\": \"luigid-rs-state\", \"version\": 99, \"journal_gen\": 0, \"state\": {}}",
            b"{\"format\": \"luigid-rs-state\", \"version\": 2, \"journal_gen\": 0, \"state\": {}}",
            b"\x80\x04\x95pickle",
            b"\n",
        ] {
            std::fs::write(&p, bad).unwrap();
            match read_value(&p) {
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
