//! Snapshots: the whole scheduler state in one file, written atomically (temp file in
//! the same directory, fsync, rename, fsync the directory) and streamed both ways.
//!
//! Version 3 (written since) is binary:
//! ```text
//! luigid-rs-state 3\n            a magic line: `head -1` says what the file is
//! u64 journal_gen, f64 saved_at  little-endian
//! body                           the state's own compact form (scheduler::binary)
//! #END u32 crc32 u64 len         CRC-32 and length of everything before this trailer
//! ```
//! `journal_gen` names the first journal generation that holds changes made after this
//! snapshot was taken; recovery replays that generation and every later one. The whole
//! file is checked against its trailer before anything is loaded, so a flipped bit or a
//! cut file is refused, never half-loaded. `luigid-rs state dump PATH` prints any version
//! as JSON for a person to read.
//!
//! Versions 1 and 2 (JSON with field names, about seven times larger and slower to write
//! and read) still load:
//! ```text
//! {"format": "luigid-rs-state", "version": 2, "journal_gen": 7, "saved_at": 1795504285.1,
//!  "state": { ...the scheduler's own serde form... }}
//! #crc32 1a2b3c4d 123456
//! ```

use std::fs::{File, OpenOptions};
use std::io::{self, BufReader, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Deserialize;

use super::faults::{Faults, Op};
use super::journal::sync_parent;

pub const FORMAT: &str = "luigid-rs-state";
/// The version written.
pub const VERSION: u64 = 3;
/// The last JSON version (still read).
const JSON_VERSION: u64 = 2;
const CRC_LINE_PREFIX: &[u8] = b"#crc32 ";
const MAGIC: &[u8] = b"luigid-rs-state 3\n";
const TRAILER_TAG: &[u8] = b"#END";
const TRAILER_LEN: u64 = 16;

/// A state that is written as the body of a binary snapshot and read back from it.
pub trait SnapshotBody: Sized {
    fn write_body<W: Write>(&self, w: &mut W) -> io::Result<()>;
    fn read_body<R: Read>(r: &mut R) -> Result<Self, String>;
}

/// A JSON document as the body (tests, and tools that keep plain values).
impl SnapshotBody for serde_json::Value {
    fn write_body<W: Write>(&self, w: &mut W) -> io::Result<()> {
        serde_json::to_writer(w, self).map_err(io::Error::other)
    }

    fn read_body<R: Read>(r: &mut R) -> Result<Self, String> {
        serde_json::from_reader(r).map_err(|e| e.to_string())
    }
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

impl SnapshotBody for crate::scheduler::Scheduler {
    fn write_body<W: Write>(&self, w: &mut W) -> io::Result<()> {
        crate::scheduler::binary::encode(self, w)
    }

    fn read_body<R: Read>(r: &mut R) -> Result<Self, String> {
        crate::scheduler::binary::decode(r).map_err(|e| e.to_string())
    }
}

fn temp_path(path: &Path) -> PathBuf {
    temp_path_of(path, std::process::id() as i32)
}

/// The temp file a snapshot written by process `pid` uses until its rename.
pub fn temp_path_of(path: &Path, pid: i32) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(format!(".tmp.{pid}"));
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
pub fn write_atomic<T: SnapshotBody>(
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
        // The buffer sits outside the checksum, which so sees 1 MiB pieces, not the
        // body's many small writes.
        let mut w = BufWriter::with_capacity(
            1 << 20,
            Crc {
                inner: file,
                hasher: crc32fast::Hasher::new(),
                len: 0,
            },
        );
        faults.check(Op::SnapshotWrite)?;
        w.write_all(MAGIC)?;
        w.write_all(&journal_gen.to_le_bytes())?;
        w.write_all(&saved_at.to_le_bytes())?;
        state.write_body(&mut w)?;
        w.flush()?;
        let (crc, len) = (w.get_ref().hasher.clone().finalize(), w.get_ref().len);
        w.write_all(TRAILER_TAG)?;
        w.write_all(&crc.to_le_bytes())?;
        w.write_all(&len.to_le_bytes())?;
        let file = w.into_inner().map_err(|e| e.into_error())?.inner;
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
pub fn read<T: DeserializeOwned + SnapshotBody>(
    path: &Path,
) -> Result<Option<Loaded<T>>, LoadError> {
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(LoadError::Io(e)),
    };
    let mut head = [0u8; MAGIC.len()];
    let n = read_up_to(&mut file, &mut head).map_err(LoadError::Io)?;
    if n == 0 {
        return Ok(None);
    }
    let corrupt = |why: String| LoadError::Corrupt {
        path: path.to_path_buf(),
        why,
    };
    if head[0] == 0x80 {
        return Err(corrupt(
            "a Python pickle that is not a state luigid-rs can import (see the error above)".into(),
        ));
    }
    if head[..n] == *MAGIC {
        return read_binary(file, corrupt).map(Some);
    }
    if head[..n].starts_with(b"luigid-rs-state ") {
        let line = String::from_utf8_lossy(&head[..n]);
        return Err(corrupt(format!(
            "a snapshot of another version ({:?}); this luigid-rs writes version {VERSION}",
            line.trim_end()
        )));
    }
    let mut data = head[..n].to_vec();
    file.read_to_end(&mut data).map_err(LoadError::Io)?;
    read_json(&data, corrupt).map(Some)
}

/// `read` until `buf` is full or the file ends; the count read.
fn read_up_to(f: &mut File, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// A version 3 file: the whole file is checked against its trailer first (one streamed
/// pass), then the body is streamed into the state.
fn read_binary<T: SnapshotBody>(
    mut file: File,
    corrupt: impl Fn(String) -> LoadError,
) -> Result<Loaded<T>, LoadError> {
    let size = file.metadata().map_err(LoadError::Io)?.len();
    let header = MAGIC.len() as u64 + 16;
    if size < header + TRAILER_LEN {
        return Err(corrupt(format!("{size} bytes: cut short")));
    }
    let covered = size - TRAILER_LEN;
    file.seek(SeekFrom::Start(covered)).map_err(LoadError::Io)?;
    let mut trailer = [0u8; TRAILER_LEN as usize];
    file.read_exact(&mut trailer).map_err(LoadError::Io)?;
    let (tag, rest) = trailer.split_at(4);
    let crc = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
    let mut len = [0u8; 8];
    len.copy_from_slice(&rest[4..]);
    let len = u64::from_le_bytes(len);
    if tag != TRAILER_TAG {
        return Err(corrupt(
            "no checksum trailer at the end (a cut or extended file?)".into(),
        ));
    }
    if len != covered {
        return Err(corrupt(format!(
            "the file holds {covered} bytes before its trailer, the trailer says {len} (cut or \
             extended)"
        )));
    }
    file.seek(SeekFrom::Start(0)).map_err(LoadError::Io)?;
    let mut hasher = crc32fast::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut left = covered;
    while left > 0 {
        let want = left.min(buf.len() as u64) as usize;
        file.read_exact(&mut buf[..want]).map_err(LoadError::Io)?;
        hasher.update(&buf[..want]);
        left -= want as u64;
    }
    drop(buf);
    let actual = hasher.finalize();
    if actual != crc {
        return Err(corrupt(format!(
            "checksum mismatch: the file's CRC-32 is {actual:08x}, its trailer says {crc:08x} \
             (damaged on disk)"
        )));
    }
    file.seek(SeekFrom::Start(MAGIC.len() as u64))
        .map_err(LoadError::Io)?;
    let mut r = BufReader::with_capacity(1 << 20, file).take(covered - MAGIC.len() as u64);
    let mut word = [0u8; 8];
    r.read_exact(&mut word).map_err(LoadError::Io)?;
    let journal_gen = u64::from_le_bytes(word);
    r.read_exact(&mut word).map_err(LoadError::Io)?;
    let saved_at = f64::from_le_bytes(word);
    let state = T::read_body(&mut r).map_err(|e| corrupt(format!("unreadable state: {e}")))?;
    if r.limit() != 0 {
        return Err(corrupt(format!(
            "{} bytes after the state, before the trailer",
            r.limit()
        )));
    }
    Ok(Loaded {
        journal_gen,
        saved_at,
        state,
    })
}

/// Versions 1 and 2: one JSON document (version 2 followed by a checksum line).
fn read_json<T: DeserializeOwned>(
    data: &[u8],
    corrupt: impl Fn(String) -> LoadError,
) -> Result<Loaded<T>, LoadError> {
    let (doc, checked) = split_checksum(data).map_err(&corrupt)?;
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
        JSON_VERSION if checked => {}
        JSON_VERSION => return Err(corrupt("its checksum line is missing (a cut file?)".into())),
        v if v > JSON_VERSION => {
            return Err(corrupt(format!(
                "a JSON snapshot of version {v}: versions from 3 on are binary"
            )))
        }
        v => return Err(corrupt(format!("unknown snapshot version {v}"))),
    }
    let snap = parsed.map_err(|e| corrupt(format!("not a readable snapshot ({e})")))?;
    Ok(Loaded {
        journal_gen: snap.journal_gen,
        saved_at: snap.saved_at,
        state: snap.state,
    })
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
    fn version_2_json_with_its_checksum_line_still_loads() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state.json");
        let doc = b"{\"format\": \"luigid-rs-state\", \"version\": 2, \"journal_gen\": 5, \"saved_at\": 7.0, \"state\": {\"a\": 2}}\n";
        let mut file = doc.to_vec();
        file.extend(format!("#crc32 {:08x} {}\n", crc32fast::hash(doc), doc.len()).bytes());
        std::fs::write(&p, &file).unwrap();
        let l = read_value(&p).unwrap().unwrap();
        assert_eq!(
            (l.journal_gen, l.saved_at, l.state),
            (5, 7.0, json!({"a": 2}))
        );
        file[20] ^= 1;
        std::fs::write(&p, &file).unwrap();
        assert!(matches!(read_value(&p), Err(LoadError::Corrupt { .. })));
    }

    #[test]
    fn the_written_file_starts_with_its_magic_line() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("state");
        write_atomic(&p, 1, 1.0, &json!({"v": 1}), false, &Faults::default()).unwrap();
        assert!(std::fs::read(&p)
            .unwrap()
            .starts_with(b"luigid-rs-state 3\n"));
        std::fs::write(&p, b"luigid-rs-state 4\n....").unwrap();
        match read_value(&p) {
            Err(LoadError::Corrupt { why, .. }) => {
                assert!(why.contains("another version"), "{why}")
            }
            other => panic!("{other:?}"),
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
