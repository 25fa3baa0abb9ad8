//! The write-ahead journal: one file per generation, `<state_path>.journal.<gen>`.
//!
//! File layout: an 8-byte magic, the generation as u64 LE, then records.
//! Record: `len: u32 LE`, `crc32(payload): u32 LE`, `payload` (`len` bytes), one of:
//! - JSON `{"m": method, "a": {args}, "t": now}` (the only kind in `LDRSJNL1` files);
//! - `R`, the method's length (u8), the method, `now` (f64 LE), then the request's `data`
//!   text verbatim (empty for no arguments), read back with the request parser
//!   ([`crate::pyjson::parse_py_json`]) so replay sees exactly the arguments the call had.
//!   Written since `LDRSJNL2`: copying the text is far cheaper than serialising the
//!   parsed arguments again, and this runs for every state-changing request.
//!
//! New files get `LDRSJNL2` (an older binary then refuses them instead of dropping the
//! records it cannot read); both magics are read. A crash mid-append leaves a short or
//! mismatching last record; [`read_journal`] drops it and says so. A damaged record with
//! whole records after it is never dropped: reading stops with [`ReadError::Corrupt`].

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use super::faults::{Faults, Op};

use serde_json::{Map, Value};

const MAGIC: &[u8; 8] = b"LDRSJNL2";
/// Journals written before raw-text records; still read.
const MAGIC_V1: &[u8; 8] = b"LDRSJNL1";
/// First byte of a raw-text record payload (a JSON payload starts with `{`).
const RAW_TAG: u8 = b'R';
const HEADER_LEN: u64 = 16;
/// A record larger than this is certainly garbage (requests are capped far below it).
const MAX_RECORD: u32 = 256 * 1024 * 1024;

/// One replayable operation.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    pub method: String,
    pub args: Map<String, Value>,
    pub now: f64,
}

/// Append one framed record for (method, args, now) to `out`, serializing straight from the
/// borrowed arguments (no copy of them; this runs for every state-changing request).
pub fn encode_record(method: &str, args: &Map<String, Value>, now: f64, out: &mut Vec<u8>) {
    #[derive(serde::Serialize)]
    struct Payload<'a> {
        m: &'a str,
        a: &'a Map<String, Value>,
        t: f64,
    }
    let start = out.len();
    out.extend_from_slice(&[0u8; 8]);
    // Serializing plain JSON values into a Vec cannot fail; should it, drop the record
    // rather than leave a torn one in the buffer.
    if serde_json::to_writer(
        &mut *out,
        &Payload {
            m: method,
            a: args,
            t: now,
        },
    )
    .is_err()
    {
        out.truncate(start);
        return;
    }
    let len = (out.len() - start - 8) as u32;
    let crc = crc32fast::hash(&out[start + 8..]);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

/// Append one framed record for (method, the request's `data` text, now) to `out`:
/// the text is copied as it is. `data` must be what the arguments were parsed from with
/// [`crate::pyjson::parse_py_json`] ("" for none).
pub fn encode_raw_record(method: &str, data: &str, now: f64, out: &mut Vec<u8>) {
    let Ok(mlen) = u8::try_from(method.len()) else {
        // No RPC method name is this long; keep such a record decodable anyway.
        match crate::pyjson::parse_py_json(data) {
            Ok(Value::Object(args)) => encode_record(method, &args, now, out),
            _ if data.is_empty() => encode_record(method, &Map::new(), now, out),
            _ => {}
        }
        return;
    };
    let start = out.len();
    out.extend_from_slice(&[0u8; 8]);
    out.push(RAW_TAG);
    out.push(mlen);
    out.extend_from_slice(method.as_bytes());
    out.extend_from_slice(&now.to_le_bytes());
    out.extend_from_slice(data.as_bytes());
    let len = (out.len() - start - 8) as u32;
    let crc = crc32fast::hash(&out[start + 8..]);
    out[start..start + 4].copy_from_slice(&len.to_le_bytes());
    out[start + 4..start + 8].copy_from_slice(&crc.to_le_bytes());
}

impl Record {
    pub fn encode(&self, out: &mut Vec<u8>) {
        encode_record(&self.method, &self.args, self.now, out);
    }

    fn decode(payload: &[u8]) -> Option<Record> {
        if payload.first() == Some(&RAW_TAG) {
            return Record::decode_raw(&payload[1..]);
        }
        let v: Value = serde_json::from_slice(payload).ok()?;
        let method = v.get("m")?.as_str()?.to_string();
        let args = v.get("a")?.as_object()?.clone();
        let now = v.get("t")?.as_f64()?;
        Some(Record { method, args, now })
    }

    /// A raw-text record after its tag.
    fn decode_raw(p: &[u8]) -> Option<Record> {
        let (method, now, data) = raw_head(p)?;
        let method = method.to_string();
        let args = if data.is_empty() {
            Map::new()
        } else {
            match crate::pyjson::parse_py_json(data).ok()? {
                Value::Object(m) => m,
                _ => return None,
            }
        };
        Some(Record { method, args, now })
    }
}

/// A raw-text record's method, time and `data` text (after its tag), checked but not
/// parsed.
fn raw_head(p: &[u8]) -> Option<(&str, f64, &str)> {
    let (&mlen, rest) = p.split_first()?;
    let mlen = usize::from(mlen);
    let method = std::str::from_utf8(rest.get(..mlen)?).ok()?;
    let now = f64::from_le_bytes(rest.get(mlen..mlen + 8)?.try_into().ok()?);
    if !now.is_finite() {
        return None;
    }
    let data = std::str::from_utf8(&rest[mlen + 8..]).ok()?;
    Some((method, now, data))
}

pub fn journal_path(state_path: &Path, gen: u64) -> PathBuf {
    let mut s = state_path.as_os_str().to_owned();
    s.push(format!(".journal.{gen}"));
    PathBuf::from(s)
}

/// Generations of the journal files that exist beside `state_path`, ascending.
pub fn list_generations(state_path: &Path) -> io::Result<Vec<u64>> {
    let dir = match state_path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let base = match state_path.file_name() {
        Some(b) => format!("{}.journal.", b.to_string_lossy()),
        None => return Ok(Vec::new()),
    };
    let mut gens = Vec::new();
    let entries = match std::fs::read_dir(&dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(gens),
        Err(e) => return Err(e),
    };
    for entry in entries {
        let name = entry?.file_name();
        let name = name.to_string_lossy();
        if let Some(rest) = name.strip_prefix(&base) {
            if let Ok(g) = rest.parse::<u64>() {
                gens.push(g);
            }
        }
    }
    gens.sort_unstable();
    Ok(gens)
}

/// What reading one journal file found.
#[derive(Debug, Default)]
pub struct JournalRead {
    pub records: Records,
    /// Byte length of the valid prefix (header + whole records).
    pub valid_len: u64,
    /// Set when the file ended in a torn record (a crash mid-append) that was dropped.
    pub dropped_tail: Option<String>,
}

/// Why a journal cannot be used as it is.
#[derive(Debug)]
pub enum ReadError {
    Io(io::Error),
    /// Not a journal, or not the generation its name says.
    BadHeader {
        path: PathBuf,
        why: String,
    },
    /// A damaged record with whole, valid records after it: dropping the damaged one
    /// would silently drop acknowledged changes, so nothing is dropped.
    Corrupt(Corruption),
}

/// Where a journal is damaged, for the operator.
#[derive(Debug, Clone)]
pub struct Corruption {
    pub path: PathBuf,
    /// Byte offset of the first bad record.
    pub offset: u64,
    /// Bytes from that offset to the end of the file.
    pub following: u64,
    /// Offset of the next record that reads back whole.
    pub next_valid: u64,
    pub why: String,
    /// Records before the damage.
    pub records_before: usize,
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Io(e) => write!(f, "{e}"),
            ReadError::BadHeader { path, why } => write!(f, "{}: {why}", path.display()),
            ReadError::Corrupt(c) => write!(
                f,
                "{}: damaged record at byte {} ({}), with {} bytes after it that still hold \
                 whole records (the next one at byte {}); {} records come before it",
                c.path.display(),
                c.offset,
                c.why,
                c.following,
                c.next_valid,
                c.records_before
            ),
        }
    }
}

impl From<io::Error> for ReadError {
    fn from(e: io::Error) -> ReadError {
        ReadError::Io(e)
    }
}

/// The framed length of the record at `pos` of `data` if it is whole, its checksum holds
/// and its method and time can be read (its arguments are parsed when it is replayed).
/// `Err` says why not.
fn frame_at(data: &[u8], pos: usize) -> Result<usize, String> {
    let rest = &data[pos..];
    if rest.len() < 8 {
        return Err(format!("torn record header at byte {pos}"));
    }
    let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
    let crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
    if len > MAX_RECORD || rest.len() < 8 + len as usize {
        return Err(format!("torn record at byte {pos} (length {len})"));
    }
    let payload = &rest[8..8 + len as usize];
    if !plausible_payload(payload) || crc32fast::hash(payload) != crc {
        return Err(format!("checksum mismatch at byte {pos}"));
    }
    if payload.first() == Some(&RAW_TAG) && raw_head(&payload[1..]).is_none() {
        return Err(format!("undecodable record at byte {pos}"));
    }
    Ok(8 + len as usize)
}

/// The record at `pos` of `data`, decoded: (record, its framed length).
fn record_at(data: &[u8], pos: usize) -> Result<(Record, usize), String> {
    let n = frame_at(data, pos)?;
    match Record::decode(&data[pos + 8..pos + n]) {
        Some(r) => Ok((r, n)),
        None => Err(format!("undecodable record at byte {pos}")),
    }
}

/// One record as [`Records::views`] gives it.
#[derive(Debug)]
pub struct RecordView<'a> {
    pub method: std::borrow::Cow<'a, str>,
    pub now: f64,
    pub data: RecordData<'a>,
}

/// A record's arguments: the request's `data` text (`""`: none), or a decoded object.
#[derive(Debug)]
pub enum RecordData<'a> {
    Text(&'a str),
    Map(Map<String, Value>),
}

fn view_at(data: &[u8], pos: usize) -> Result<RecordView<'_>, String> {
    let n = frame_at(data, pos)?;
    let payload = &data[pos + 8..pos + n];
    if let Some((method, now, text)) = payload.strip_prefix(&[RAW_TAG]).and_then(raw_head) {
        return Ok(RecordView {
            method: std::borrow::Cow::Borrowed(method),
            now,
            data: RecordData::Text(text),
        });
    }
    match Record::decode(payload) {
        Some(r) => Ok(RecordView {
            method: std::borrow::Cow::Owned(r.method),
            now: r.now,
            data: RecordData::Map(r.args),
        }),
        None => Err(format!("undecodable record at byte {pos}")),
    }
}

/// Journal records as read: the files' bytes and where each whole record starts. Each
/// is decoded when it is replayed, so a restart holds one decoded record at a time, not
/// every record's parsed arguments at once (which at a million records took gigabytes
/// that the allocator kept after they were freed).
#[derive(Debug, Default)]
pub struct Records {
    files: Vec<RecordFile>,
}

#[derive(Debug)]
struct RecordFile {
    data: Vec<u8>,
    starts: Vec<usize>,
}

impl Records {
    pub fn len(&self) -> usize {
        self.files.iter().map(|f| f.starts.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every record in order, decoded. `Err` for one whose frame and checksum hold but
    /// whose arguments cannot be parsed (never written by luigid-rs: the caller logs
    /// and counts it).
    pub fn iter(&self) -> impl Iterator<Item = Result<Record, String>> + '_ {
        self.files.iter().flat_map(|f| {
            f.starts
                .iter()
                .map(move |&pos| record_at(&f.data, pos).map(|(r, _)| r))
        })
    }

    /// Every record in order, as its call is replayed: the request's `data` text as the
    /// server parsed it (records since `LDRSJNL2`), so that replay takes the server's own
    /// path (`api::parse`, then the call), or the decoded arguments of an older JSON
    /// record. `Err` as for [`Records::iter`].
    pub fn views(&self) -> impl Iterator<Item = Result<RecordView<'_>, String>> + '_ {
        self.files
            .iter()
            .flat_map(|f| f.starts.iter().map(move |&pos| view_at(&f.data, pos)))
    }

    /// Records framed as in a journal file, without its header: the journal rows a
    /// PostgreSQL state store keeps (`crate::ha`). Unlike a file, nothing here may be
    /// torn (each row was committed whole), so any damage is an error.
    pub fn from_framed(data: Vec<u8>) -> Result<Records, String> {
        let mut starts = Vec::new();
        let mut pos = 0;
        while pos < data.len() {
            starts.push(pos);
            pos += frame_at(&data, pos)?;
        }
        Ok(Records {
            files: vec![RecordFile { data, starts }],
        })
    }

    /// Add the records of a later file.
    pub fn append(&mut self, mut later: Records) {
        self.files.append(&mut later.files);
    }

    /// Decoded, for tests.
    #[cfg(test)]
    pub fn to_vec(&self) -> Vec<Record> {
        self.iter().map(|r| r.unwrap()).collect()
    }
}

/// A cheap look at a payload's first bytes before its checksum is computed, so that
/// searching damaged bytes for the next record does not checksum megabytes at every offset.
fn plausible_payload(p: &[u8]) -> bool {
    match p.first() {
        Some(b'{') => true,
        Some(&RAW_TAG) => match p.get(1) {
            Some(&n) if n > 0 => p
                .get(2..2 + usize::from(n))
                .is_some_and(|m| m.iter().all(|c| c.is_ascii_lowercase() || *c == b'_')),
            _ => false,
        },
        _ => false,
    }
}

/// The first offset after `from` where a whole, valid record starts.
fn next_valid_record(data: &[u8], from: usize) -> Option<usize> {
    (from + 1..data.len().saturating_sub(8)).find(|&p| frame_at(data, p).is_ok())
}

/// Read every whole record of a journal file.
///
/// Only a torn *last* record may be dropped: that is what a crash in the middle of an
/// append leaves, and it was never acknowledged (replies leave after the append). A
/// damaged record with valid records after it is bit rot or a bad write, not a crash:
/// it is an error, and nothing is dropped.
pub fn read_journal(path: &Path, expect_gen: u64) -> Result<JournalRead, ReadError> {
    let mut file = File::open(path)?;
    let size = file.metadata().map(|m| m.len()).unwrap_or(0);
    let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0).saturating_add(1));
    file.read_to_end(&mut data)?;
    let mut out = JournalRead::default();
    let mut starts = Vec::new();
    if data.len() < HEADER_LEN as usize {
        // A crash right after creating the file: nothing was acknowledged from it.
        out.dropped_tail = Some(format!("header incomplete ({} bytes)", data.len()));
        return Ok(out);
    }
    let bad_header = |why: String| ReadError::BadHeader {
        path: path.to_path_buf(),
        why,
    };
    if &data[..8] != MAGIC && &data[..8] != MAGIC_V1 {
        return Err(bad_header("not a luigid-rs journal (bad magic)".into()));
    }
    let mut gen_bytes = [0u8; 8];
    gen_bytes.copy_from_slice(&data[8..16]);
    let gen = u64::from_le_bytes(gen_bytes);
    if gen != expect_gen {
        return Err(bad_header(format!(
            "holds generation {gen}, its name says {expect_gen}"
        )));
    }
    let mut pos = HEADER_LEN as usize;
    out.valid_len = HEADER_LEN;
    while pos < data.len() {
        match frame_at(&data, pos) {
            Ok(n) => {
                starts.push(pos);
                pos += n;
                out.valid_len = pos as u64;
            }
            Err(why) => {
                if let Some(next) = next_valid_record(&data, pos) {
                    return Err(ReadError::Corrupt(Corruption {
                        path: path.to_path_buf(),
                        offset: pos as u64,
                        following: (data.len() - pos) as u64,
                        next_valid: next as u64,
                        why,
                        records_before: starts.len(),
                    }));
                }
                out.dropped_tail = Some(why);
                break;
            }
        }
    }
    out.records = Records {
        files: vec![RecordFile { data, starts }],
    };
    Ok(out)
}

/// What [`salvage_journal`] kept, and the byte ranges (start, end) it skipped.
pub type Salvaged = (Vec<Record>, Vec<(u64, u64)>);

/// Every valid record of a damaged journal, skipping what cannot be read: what
/// `check-state --repair` keeps.
pub fn salvage_journal(path: &Path) -> io::Result<Salvaged> {
    let data = std::fs::read(path)?;
    let mut records = Vec::new();
    let mut skipped = Vec::new();
    let mut pos = HEADER_LEN as usize;
    if data.len() < pos {
        return Ok((records, skipped));
    }
    while pos < data.len() {
        match record_at(&data, pos) {
            Ok((r, n)) => {
                records.push(r);
                pos += n;
            }
            Err(_) => {
                let next = next_valid_record(&data, pos).unwrap_or(data.len());
                skipped.push((pos as u64, next as u64));
                pos = next;
            }
        }
    }
    Ok((records, skipped))
}

/// Journal space is reserved ahead of the appends in steps of this size, so that a full
/// disk is found before a call is applied (and refused), not after it was answered.
pub const RESERVE_STEP: u64 = 256 * 1024;

/// An open journal file that records are appended to.
pub struct JournalWriter {
    file: File,
    pub gen: u64,
    pub path: PathBuf,
    /// Bytes of whole records in the file (header included); a failed append does not
    /// move it, so it is where the file must be cut back to.
    pub len: u64,
    /// Bytes allocated for the file (from offset 0); `None` when the filesystem cannot
    /// reserve space (then a full disk shows only as a failed append).
    reserved: Option<u64>,
    /// An append failed part-way: the file holds bytes after `len`.
    pub torn: bool,
    faults: Faults,
}

impl JournalWriter {
    /// Create a fresh journal for `gen` (truncating a leftover file of that generation).
    pub fn create(state_path: &Path, gen: u64, faults: &Faults) -> io::Result<JournalWriter> {
        faults.check(Op::Rotate)?;
        let path = journal_path(state_path, gen);
        let result = (|| {
            let mut file = OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(true)
                .open(&path)?;
            let mut header = Vec::with_capacity(HEADER_LEN as usize);
            header.extend_from_slice(MAGIC);
            header.extend_from_slice(&gen.to_le_bytes());
            file.write_all(&header)?;
            file.sync_all()?;
            faults.check(Op::SyncDir)?;
            sync_parent(&path)?;
            Ok(file)
        })();
        match result {
            Ok(file) => Ok(JournalWriter {
                file,
                gen,
                path,
                len: HEADER_LEN,
                reserved: Some(0),
                torn: false,
                faults: faults.clone(),
            }),
            Err(e) => {
                // Leave no half-made generation behind to be read as one.
                let _ = std::fs::remove_file(&path);
                Err(e)
            }
        }
    }

    /// Continue an existing journal after its valid prefix (a torn tail is cut off).
    pub fn reopen(
        state_path: &Path,
        gen: u64,
        valid_len: u64,
        faults: &Faults,
    ) -> io::Result<JournalWriter> {
        let path = journal_path(state_path, gen);
        if valid_len < HEADER_LEN {
            return JournalWriter::create(state_path, gen, faults);
        }
        let mut file = OpenOptions::new().write(true).open(&path)?;
        file.set_len(valid_len)?;
        // An older file is continued with records of the current kinds: mark it as such.
        file.write_all(MAGIC)?;
        file.sync_all()?;
        let mut w = JournalWriter {
            file,
            gen,
            path,
            len: valid_len,
            reserved: Some(0),
            torn: false,
            faults: faults.clone(),
        };
        use std::io::Seek;
        w.file.seek(io::SeekFrom::Start(valid_len))?;
        Ok(w)
    }

    /// Make sure `more` bytes can be appended without the disk running out: reserve
    /// space (fallocate, keeping the file size) in [`RESERVE_STEP`]s. An error means the
    /// disk is full (or failing): the caller refuses the call that needed the room.
    pub fn reserve(&mut self, more: u64) -> io::Result<()> {
        let Some(reserved) = self.reserved else {
            return Ok(());
        };
        let need = self.len + more;
        if need <= reserved {
            return Ok(());
        }
        let step_end = need.div_ceil(RESERVE_STEP) * RESERVE_STEP;
        // A whole step when there is room for it, else just what this call needs.
        let mut last = Ok(());
        for end in [step_end, need] {
            last = self.allocate(reserved, end);
            match &last {
                Ok(()) => {
                    self.reserved = Some(end);
                    return Ok(());
                }
                Err(e) if unsupported(e) => {
                    self.reserved = None;
                    return Ok(());
                }
                Err(_) => {}
            }
        }
        last
    }

    fn allocate(&self, from: u64, to: u64) -> io::Result<()> {
        self.faults.check(Op::Allocate)?;
        let (Ok(off), Ok(len)) = (
            libc::off_t::try_from(from),
            libc::off_t::try_from(to - from),
        ) else {
            return Err(io::Error::from_raw_os_error(libc::EFBIG));
        };
        loop {
            // SAFETY: fallocate on our own open descriptor; no memory is passed.
            let r = unsafe {
                libc::fallocate(self.file.as_raw_fd(), libc::FALLOC_FL_KEEP_SIZE, off, len)
            };
            if r == 0 {
                return Ok(());
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(e);
            }
        }
    }

    /// Write already-encoded records (one write call for a whole loop iteration).
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        if let Err(e) = self.faults.check(Op::Append) {
            // As a disk that fills up mid-write: half the bytes land, then the error.
            let _ = self.file.write_all(&bytes[..bytes.len() / 2]);
            self.torn = true;
            return Err(e);
        }
        if let Err(e) = self.file.write_all(bytes) {
            self.torn = true;
            return Err(e);
        }
        self.len += bytes.len() as u64;
        Ok(())
    }

    pub fn sync(&mut self) -> io::Result<()> {
        self.faults.check(Op::Sync)?;
        self.file.sync_data()
    }

    /// Cut the file back to its whole records (after a failed append) and make that
    /// durable, so that no record is ever written after a torn one.
    pub fn cut_to_valid(&mut self) -> io::Result<()> {
        use std::io::Seek;
        self.faults.check(Op::Truncate)?;
        self.file.set_len(self.len)?;
        self.file.seek(io::SeekFrom::Start(self.len))?;
        self.file.sync_all()?;
        self.torn = false;
        Ok(())
    }

    /// Give back reserved space past the end (a generation that is done).
    pub fn release_reserve(&mut self) {
        if self.reserved.is_some_and(|r| r > self.len) {
            let _ = self.file.set_len(self.len);
            self.reserved = Some(self.len);
        }
    }

    /// A second handle on the file, for an fsync on another thread.
    pub fn sync_handle(&self) -> io::Result<File> {
        self.file.try_clone()
    }

    /// After the file was read back: whole records that a failed append did write count
    /// as written (they are in the file, so a restart replays them), and cutting back
    /// stops after them.
    pub fn adopt_valid_len(&mut self, valid_len: u64) {
        if valid_len >= self.len {
            self.len = valid_len;
        }
    }
}

fn unsupported(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EOPNOTSUPP) | Some(libc::ENOSYS) | Some(libc::EINVAL)
    )
}

/// fsync the directory holding `path`, so a create or rename in it is durable.
pub fn sync_parent(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rec(i: u64) -> Record {
        Record {
            method: "add_task".into(),
            args: json!({"task_id": format!("T{i}"), "worker": "w"})
                .as_object()
                .cloned()
                .unwrap_or_default(),
            now: 1000.0 + i as f64,
        }
    }

    #[test]
    fn round_trip_and_torn_tail_at_every_length() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.json");
        let mut w = JournalWriter::create(&state, 3, &Faults::default()).unwrap();
        let mut buf = Vec::new();
        for i in 0..5 {
            rec(i).encode(&mut buf);
        }
        w.write(&buf).unwrap();
        w.sync().unwrap();
        let full = std::fs::read(journal_path(&state, 3)).unwrap();
        let r = read_journal(&journal_path(&state, 3), 3).unwrap();
        assert_eq!(r.records.to_vec(), (0..5).map(rec).collect::<Vec<_>>());
        assert!(r.dropped_tail.is_none());
        assert_eq!(r.valid_len, full.len() as u64);
        // Cut the file at every byte: always a prefix of whole records, never an error.
        let mut boundaries = vec![HEADER_LEN as usize];
        let mut pos = HEADER_LEN as usize;
        for i in 0..5 {
            let mut one = Vec::new();
            rec(i).encode(&mut one);
            pos += one.len();
            boundaries.push(pos);
        }
        for cut in HEADER_LEN as usize..full.len() {
            std::fs::write(journal_path(&state, 3), &full[..cut]).unwrap();
            let r = read_journal(&journal_path(&state, 3), 3).unwrap();
            let whole = boundaries.iter().filter(|&&b| b <= cut).count() - 1;
            assert_eq!(r.records.to_vec().len(), whole, "cut at {cut}");
            assert_eq!(r.dropped_tail.is_some(), !boundaries.contains(&cut));
        }
    }

    #[test]
    fn raw_records_read_back_as_parsed_arguments() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s");
        let mut w = JournalWriter::create(&state, 2, &Faults::default()).unwrap();
        let texts = [
            r#"{"task_id": "T1", "worker": "w", "n": NaN, "big": 123456789012345678901234567890, "d": {"b": 1, "a": 2, "b": 3}}"#,
            "",
            "{}",
            r#"{"s": "\ud83d\ude00 </x>"}"#,
        ];
        let mut buf = Vec::new();
        for (i, t) in texts.iter().enumerate() {
            encode_raw_record("add_task", t, 1000.5 + i as f64, &mut buf);
        }
        rec(7).encode(&mut buf);
        w.write(&buf).unwrap();
        let r = read_journal(&journal_path(&state, 2), 2).unwrap();
        assert!(r.dropped_tail.is_none());
        assert_eq!(r.records.to_vec().len(), texts.len() + 1);
        for (i, t) in texts.iter().enumerate() {
            let want = match crate::pyjson::parse_py_json(if t.is_empty() { "{}" } else { t }) {
                Ok(Value::Object(m)) => m,
                other => panic!("{other:?}"),
            };
            assert_eq!(r.records.to_vec()[i].method, "add_task");
            assert_eq!(r.records.to_vec()[i].now, 1000.5 + i as f64);
            assert_eq!(r.records.to_vec()[i].args, want);
            // Same order too (a Map compares as a set).
            assert!(r.records.to_vec()[i].args.keys().eq(want.keys()));
        }
        assert_eq!(r.records.to_vec()[texts.len()], rec(7));
        let data = std::fs::read(journal_path(&state, 2)).unwrap();
        assert_eq!(&data[..8], MAGIC);
    }

    #[test]
    fn undecodable_raw_records_are_a_dropped_tail() {
        for payload in [
            &b"R"[..],
            b"R\x08add_task",
            b"R\x05pause\0\0\0\0\0\0\xf0\x7f",
            b"R\x05pause\0\0\0\0\0\0\xf0\x3f[1]",
            b"R\x05pause\0\0\0\0\0\0\xf0\x3f{bad",
            b"R\x02\xff\xfe\0\0\0\0\0\0\xf0\x3f",
        ] {
            assert!(Record::decode(payload).is_none(), "{payload:?}");
        }
        let ok = Record::decode(b"R\x05pause\0\0\0\0\0\0\xf0\x3f").unwrap();
        assert_eq!(
            (ok.method.as_str(), ok.now, ok.args.len()),
            ("pause", 1.0, 0)
        );
    }

    #[test]
    fn version_1_journals_are_read_and_continued_as_version_2() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s");
        let mut file = MAGIC_V1.to_vec();
        file.extend_from_slice(&4u64.to_le_bytes());
        rec(0).encode(&mut file);
        std::fs::write(journal_path(&state, 4), &file).unwrap();
        let r = read_journal(&journal_path(&state, 4), 4).unwrap();
        assert_eq!(r.records.to_vec(), vec![rec(0)]);
        let mut w = JournalWriter::reopen(&state, 4, r.valid_len, &Faults::default()).unwrap();
        let mut buf = Vec::new();
        encode_raw_record("pause", "", 5.0, &mut buf);
        w.write(&buf).unwrap();
        let data = std::fs::read(journal_path(&state, 4)).unwrap();
        assert_eq!(&data[..8], MAGIC);
        let r = read_journal(&journal_path(&state, 4), 4).unwrap();
        assert_eq!(r.records.to_vec().len(), 2);
        assert_eq!(r.records.to_vec()[1].method, "pause");
    }

    #[test]
    fn checksum_mismatch_drops_the_record_and_after() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s");
        let mut w = JournalWriter::create(&state, 0, &Faults::default()).unwrap();
        let mut buf = Vec::new();
        for i in 0..3 {
            rec(i).encode(&mut buf);
        }
        w.write(&buf).unwrap();
        let p = journal_path(&state, 0);
        let mut data = std::fs::read(&p).unwrap();
        let last = data.len() - 3;
        data[last] ^= 0x55;
        std::fs::write(&p, &data).unwrap();
        let r = read_journal(&p, 0).unwrap();
        assert_eq!(r.records.to_vec().len(), 2);
        assert!(r.dropped_tail.unwrap().contains("checksum"));
    }

    /// A journal of `n` records at generation 0 beside `state`, and its bytes.
    fn small_journal(state: &Path, n: u64) -> Vec<u8> {
        let mut w = JournalWriter::create(state, 0, &Faults::default()).unwrap();
        let mut buf = Vec::new();
        for i in 0..n {
            if i % 2 == 0 {
                rec(i).encode(&mut buf);
            } else {
                encode_raw_record(
                    "add_task",
                    &format!("{{\"task_id\": \"T{i}\"}}"),
                    i as f64,
                    &mut buf,
                );
            }
        }
        w.write(&buf).unwrap();
        std::fs::read(journal_path(state, 0)).unwrap()
    }

    #[test]
    fn a_flipped_byte_anywhere_is_refused_or_only_the_last_record_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s");
        let good = small_journal(&state, 6);
        let all = read_journal(&journal_path(&state, 0), 0)
            .unwrap()
            .records
            .to_vec();
        assert_eq!(all.len(), 6);
        let last_start = {
            let mut pos = HEADER_LEN as usize;
            let mut starts = Vec::new();
            while pos < good.len() {
                starts.push(pos);
                pos += record_at(&good, pos).unwrap().1;
            }
            *starts.last().unwrap()
        };
        let (mut refused, mut tail_dropped, mut unchanged) = (0, 0, 0);
        for off in 0..good.len() {
            for flip in [0x01u8, 0x80, 0xff] {
                let mut bad = good.clone();
                bad[off] ^= flip;
                std::fs::write(journal_path(&state, 0), &bad).unwrap();
                match read_journal(&journal_path(&state, 0), 0) {
                    Err(ReadError::Corrupt(c)) => {
                        assert!(off >= HEADER_LEN as usize, "offset {off}");
                        assert!(c.offset as usize <= off, "offset {off}: {c:?}");
                        assert_eq!(c.following as usize, bad.len() - c.offset as usize);
                        refused += 1;
                    }
                    Err(ReadError::BadHeader { .. }) => {
                        assert!(off < HEADER_LEN as usize, "offset {off}");
                        refused += 1;
                    }
                    Err(ReadError::Io(e)) => panic!("offset {off}: {e}"),
                    Ok(r) => {
                        // Never more than the damaged last record is lost, and a record
                        // before the damage is never changed.
                        assert_eq!(
                            r.records.to_vec()[..r.records.to_vec().len().min(5)],
                            all[..r.records.to_vec().len().min(5)],
                            "offset {off}"
                        );
                        if r.records.to_vec().len() == 6 {
                            // The flip landed where it changes nothing we read.
                            unchanged += 1;
                        } else {
                            assert_eq!(r.records.to_vec().len(), 5, "offset {off} flip {flip:#x}");
                            assert!(off >= last_start, "offset {off} is before the last record");
                            assert!(r.dropped_tail.is_some());
                            tail_dropped += 1;
                        }
                    }
                }
            }
        }
        assert!(
            refused > 0 && tail_dropped > 0,
            "{refused} {tail_dropped} {unchanged}"
        );
    }

    #[test]
    fn corruption_says_where_and_salvage_keeps_every_valid_record() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s");
        let mut bad = small_journal(&state, 6);
        let second = HEADER_LEN as usize + record_at(&bad, HEADER_LEN as usize).unwrap().1;
        bad[second + 12] ^= 0x20;
        std::fs::write(journal_path(&state, 0), &bad).unwrap();
        let ReadError::Corrupt(c) = read_journal(&journal_path(&state, 0), 0).unwrap_err() else {
            panic!("not corrupt")
        };
        assert_eq!(c.offset as usize, second);
        assert_eq!(c.records_before, 1);
        assert!(c.next_valid as usize > second);
        let msg = ReadError::Corrupt(c).to_string();
        assert!(msg.contains(&format!("byte {second}")), "{msg}");
        let (kept, skipped) = salvage_journal(&journal_path(&state, 0)).unwrap();
        assert_eq!(kept.len(), 5, "all but the damaged one");
        assert_eq!(skipped.len(), 1);
        assert_eq!(skipped[0].0 as usize, second);
    }

    #[test]
    fn reserve_then_fill_a_tiny_disk_fails_at_reserve_not_at_append() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s");
        let faults = Faults::armable();
        let mut w = JournalWriter::create(&state, 0, &faults).unwrap();
        w.reserve(100).unwrap();
        assert!(w.reserved.unwrap_or(u64::MAX) >= 116);
        faults.fail(Op::Allocate, libc::ENOSPC);
        // Inside what is reserved: no allocation needed.
        w.reserve(1000).unwrap();
        let e = w.reserve(RESERVE_STEP * 2).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ENOSPC));
    }

    #[test]
    fn a_failed_append_is_cut_back_before_anything_follows() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s");
        let faults = Faults::armable();
        let mut w = JournalWriter::create(&state, 0, &faults).unwrap();
        let mut buf = Vec::new();
        rec(0).encode(&mut buf);
        w.write(&buf).unwrap();
        faults.fail_times(Op::Append, libc::EIO, 1);
        let mut two = Vec::new();
        rec(1).encode(&mut two);
        rec(2).encode(&mut two);
        rec(4).encode(&mut two);
        assert!(w.write(&two).is_err());
        assert!(w.torn);
        let r = read_journal(&journal_path(&state, 0), 0).unwrap();
        // Half of the failed append landed: one whole record and a torn one.
        assert_eq!(r.records.to_vec(), vec![rec(0), rec(1)]);
        assert!(r.dropped_tail.is_some());
        w.cut_to_valid().unwrap();
        let r = read_journal(&journal_path(&state, 0), 0).unwrap();
        assert_eq!(
            r.records.to_vec(),
            vec![rec(0)],
            "cut to what the writer knew was whole"
        );
        w.adopt_valid_len(r.valid_len);
        let mut three = Vec::new();
        rec(3).encode(&mut three);
        w.write(&three).unwrap();
        let r = read_journal(&journal_path(&state, 0), 0).unwrap();
        assert_eq!(r.records.to_vec(), vec![rec(0), rec(3)]);
        assert!(r.dropped_tail.is_none());
        // Read back first, the whole record that did land is kept.
        faults.fail_times(Op::Append, libc::EIO, 1);
        assert!(w.write(&two).is_err());
        let r = read_journal(&journal_path(&state, 0), 0).unwrap();
        w.adopt_valid_len(r.valid_len);
        w.cut_to_valid().unwrap();
        let r = read_journal(&journal_path(&state, 0), 0).unwrap();
        assert_eq!(r.records.to_vec(), vec![rec(0), rec(3), rec(1)]);
        assert!(r.dropped_tail.is_none());
    }

    #[test]
    fn reopen_cuts_torn_tail_and_appends() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s");
        let mut w = JournalWriter::create(&state, 1, &Faults::default()).unwrap();
        let mut buf = Vec::new();
        rec(0).encode(&mut buf);
        w.write(&buf).unwrap();
        w.write(&[1, 2, 3]).unwrap(); // torn garbage
        drop(w);
        let r = read_journal(&journal_path(&state, 1), 1).unwrap();
        assert_eq!(r.records.to_vec().len(), 1);
        let mut w = JournalWriter::reopen(&state, 1, r.valid_len, &Faults::default()).unwrap();
        let mut buf = Vec::new();
        rec(1).encode(&mut buf);
        w.write(&buf).unwrap();
        let r = read_journal(&journal_path(&state, 1), 1).unwrap();
        assert_eq!(r.records.to_vec(), vec![rec(0), rec(1)]);
        assert!(r.dropped_tail.is_none());
    }

    #[test]
    fn bad_magic_and_wrong_generation_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s");
        std::fs::write(journal_path(&state, 0), b"garbage-garbage-garbage").unwrap();
        assert!(read_journal(&journal_path(&state, 0), 0).is_err());
        JournalWriter::create(&state, 4, &Faults::default()).unwrap();
        std::fs::rename(journal_path(&state, 4), journal_path(&state, 5)).unwrap();
        assert!(read_journal(&journal_path(&state, 5), 5).is_err());
        assert_eq!(list_generations(&state).unwrap(), vec![0, 5]);
    }
}
