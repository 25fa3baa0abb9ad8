//! The write-ahead journal: one file per generation, `<state_path>.journal.<gen>`.
//!
//! File layout: an 8-byte magic, the generation as u64 LE, then records.
//! Record: `len: u32 LE`, `crc32(payload): u32 LE`, `payload` (`len` bytes), one of:
//! - JSON `{"m": method, "a": {args}, "t": now}` (the only kind in `LDRSJNL1` files);
//! - `R`, the method's length (u8), the method, `now` (f64 LE), then the request's `data`
//!   text verbatim (empty for no arguments), read back with the request parser
//!   ([`crate::json::parse_py_json`]) so replay sees exactly the arguments the call had.
//!   Written since `LDRSJNL2`: copying the text is far cheaper than serialising the
//!   parsed arguments again, and this runs for every state-changing request.
//!
//! New files get `LDRSJNL2` (an older binary then refuses them instead of dropping the
//! records it cannot read); both magics are read. A crash mid-append leaves a short or
//! mismatching last record; [`read_journal`] drops it and says so.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

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
/// [`crate::json::parse_py_json`] ("" for none).
pub fn encode_raw_record(method: &str, data: &str, now: f64, out: &mut Vec<u8>) {
    let Ok(mlen) = u8::try_from(method.len()) else {
        // No RPC method name is this long; keep such a record decodable anyway.
        match crate::json::parse_py_json(data) {
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
        let (&mlen, rest) = p.split_first()?;
        let mlen = usize::from(mlen);
        let method = std::str::from_utf8(rest.get(..mlen)?).ok()?.to_string();
        let now = f64::from_le_bytes(rest.get(mlen..mlen + 8)?.try_into().ok()?);
        if !now.is_finite() {
            return None;
        }
        let data = std::str::from_utf8(&rest[mlen + 8..]).ok()?;
        let args = if data.is_empty() {
            Map::new()
        } else {
            match crate::json::parse_py_json(data).ok()? {
                Value::Object(m) => m,
                _ => return None,
            }
        };
        Some(Record { method, args, now })
    }
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
    pub records: Vec<Record>,
    /// Byte length of the valid prefix (header + whole records).
    pub valid_len: u64,
    /// Set when the file ended in a torn or corrupt record that was dropped.
    pub dropped_tail: Option<String>,
}

/// Read every whole record of a journal file. A bad header is an error; a torn or
/// corrupt record stops the read and is reported in `dropped_tail`.
pub fn read_journal(path: &Path, expect_gen: u64) -> io::Result<JournalRead> {
    let mut data = Vec::new();
    File::open(path)?.read_to_end(&mut data)?;
    let mut out = JournalRead::default();
    if data.len() < HEADER_LEN as usize {
        // A crash right after creating the file: nothing was acknowledged from it.
        out.dropped_tail = Some(format!("header incomplete ({} bytes)", data.len()));
        return Ok(out);
    }
    if &data[..8] != MAGIC && &data[..8] != MAGIC_V1 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{} is not a luigid-rs journal", path.display()),
        ));
    }
    let mut gen_bytes = [0u8; 8];
    gen_bytes.copy_from_slice(&data[8..16]);
    let gen = u64::from_le_bytes(gen_bytes);
    if gen != expect_gen {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "{} holds generation {gen}, its name says {expect_gen}",
                path.display()
            ),
        ));
    }
    let mut pos = HEADER_LEN as usize;
    out.valid_len = HEADER_LEN;
    while pos < data.len() {
        let rest = &data[pos..];
        if rest.len() < 8 {
            out.dropped_tail = Some(format!("torn record header at byte {pos}"));
            break;
        }
        let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
        let crc = u32::from_le_bytes([rest[4], rest[5], rest[6], rest[7]]);
        if len > MAX_RECORD || rest.len() < 8 + len as usize {
            out.dropped_tail = Some(format!("torn record at byte {pos} (length {len})"));
            break;
        }
        let payload = &rest[8..8 + len as usize];
        if crc32fast::hash(payload) != crc {
            out.dropped_tail = Some(format!("checksum mismatch at byte {pos}"));
            break;
        }
        match Record::decode(payload) {
            Some(r) => out.records.push(r),
            None => {
                out.dropped_tail = Some(format!("undecodable record at byte {pos}"));
                break;
            }
        }
        pos += 8 + len as usize;
        out.valid_len = pos as u64;
    }
    Ok(out)
}

/// An open journal file that records are appended to.
pub struct JournalWriter {
    file: File,
    pub gen: u64,
    pub path: PathBuf,
    /// Bytes in the file (header included).
    pub len: u64,
}

impl JournalWriter {
    /// Create a fresh journal for `gen` (truncating a leftover file of that generation).
    pub fn create(state_path: &Path, gen: u64) -> io::Result<JournalWriter> {
        let path = journal_path(state_path, gen);
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
        sync_parent(&path)?;
        Ok(JournalWriter {
            file,
            gen,
            path,
            len: HEADER_LEN,
        })
    }

    /// Continue an existing journal after its valid prefix (a torn tail is cut off).
    pub fn reopen(state_path: &Path, gen: u64, valid_len: u64) -> io::Result<JournalWriter> {
        let path = journal_path(state_path, gen);
        if valid_len < HEADER_LEN {
            return JournalWriter::create(state_path, gen);
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
        };
        use std::io::Seek;
        w.file.seek(io::SeekFrom::Start(valid_len))?;
        Ok(w)
    }

    /// Write already-encoded records (one write call for a whole loop iteration).
    pub fn write(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.file.write_all(bytes)?;
        self.len += bytes.len() as u64;
        Ok(())
    }

    pub fn sync(&mut self) -> io::Result<()> {
        self.file.sync_data()
    }

    /// A second handle on the file, for an fsync on another thread.
    pub fn sync_handle(&self) -> io::Result<File> {
        self.file.try_clone()
    }
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
        let mut w = JournalWriter::create(&state, 3).unwrap();
        let mut buf = Vec::new();
        for i in 0..5 {
            rec(i).encode(&mut buf);
        }
        w.write(&buf).unwrap();
        w.sync().unwrap();
        let full = std::fs::read(journal_path(&state, 3)).unwrap();
        let r = read_journal(&journal_path(&state, 3), 3).unwrap();
        assert_eq!(r.records, (0..5).map(rec).collect::<Vec<_>>());
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
            assert_eq!(r.records.len(), whole, "cut at {cut}");
            assert_eq!(r.dropped_tail.is_some(), !boundaries.contains(&cut));
        }
    }

    #[test]
    fn raw_records_read_back_as_parsed_arguments() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s");
        let mut w = JournalWriter::create(&state, 2).unwrap();
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
        assert_eq!(r.records.len(), texts.len() + 1);
        for (i, t) in texts.iter().enumerate() {
            let want = match crate::json::parse_py_json(if t.is_empty() { "{}" } else { t }) {
                Ok(Value::Object(m)) => m,
                other => panic!("{other:?}"),
            };
            assert_eq!(r.records[i].method, "add_task");
            assert_eq!(r.records[i].now, 1000.5 + i as f64);
            assert_eq!(r.records[i].args, want);
            // Same order too (a Map compares as a set).
            assert!(r.records[i].args.keys().eq(want.keys()));
        }
        assert_eq!(r.records[texts.len()], rec(7));
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
        assert_eq!(r.records, vec![rec(0)]);
        let mut w = JournalWriter::reopen(&state, 4, r.valid_len).unwrap();
        let mut buf = Vec::new();
        encode_raw_record("pause", "", 5.0, &mut buf);
        w.write(&buf).unwrap();
        let data = std::fs::read(journal_path(&state, 4)).unwrap();
        assert_eq!(&data[..8], MAGIC);
        let r = read_journal(&journal_path(&state, 4), 4).unwrap();
        assert_eq!(r.records.len(), 2);
        assert_eq!(r.records[1].method, "pause");
    }

    #[test]
    fn checksum_mismatch_drops_the_record_and_after() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s");
        let mut w = JournalWriter::create(&state, 0).unwrap();
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
        assert_eq!(r.records.len(), 2);
        assert!(r.dropped_tail.unwrap().contains("checksum"));
    }

    #[test]
    fn reopen_cuts_torn_tail_and_appends() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s");
        let mut w = JournalWriter::create(&state, 1).unwrap();
        let mut buf = Vec::new();
        rec(0).encode(&mut buf);
        w.write(&buf).unwrap();
        w.write(&[1, 2, 3]).unwrap(); // torn garbage
        drop(w);
        let r = read_journal(&journal_path(&state, 1), 1).unwrap();
        assert_eq!(r.records.len(), 1);
        let mut w = JournalWriter::reopen(&state, 1, r.valid_len).unwrap();
        let mut buf = Vec::new();
        rec(1).encode(&mut buf);
        w.write(&buf).unwrap();
        let r = read_journal(&journal_path(&state, 1), 1).unwrap();
        assert_eq!(r.records, vec![rec(0), rec(1)]);
        assert!(r.dropped_tail.is_none());
    }

    #[test]
    fn bad_magic_and_wrong_generation_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("s");
        std::fs::write(journal_path(&state, 0), b"garbage-garbage-garbage").unwrap();
        assert!(read_journal(&journal_path(&state, 0), 0).is_err());
        JournalWriter::create(&state, 4).unwrap();
        std::fs::rename(journal_path(&state, 4), journal_path(&state, 5)).unwrap();
        assert!(read_journal(&journal_path(&state, 5), 5).is_err());
        assert_eq!(list_generations(&state).unwrap(), vec![0, 5]);
    }
}
