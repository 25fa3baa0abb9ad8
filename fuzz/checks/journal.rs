//! The journal reader on arbitrary bytes, then replay of what it read into a scheduler
//! as recovery does. The input is used twice: as the raw file, and as record payloads
//! with correct lengths and checksums (so the decoder past the checksum is reached).
use luigid_rs::persistence::journal::{journal_path, read_journal};
use luigid_rs::scheduler::{Scheduler, SchedulerConfig};
use std::path::{Path, PathBuf};

fn state_path() -> PathBuf {
    let dir = if Path::new("/dev/shm").is_dir() {
        "/dev/shm"
    } else {
        "/tmp"
    };
    PathBuf::from(format!(
        "{dir}/luigid-rs-fuzz-journal-{}.json",
        std::process::id()
    ))
}

/// The header of a valid journal of generation 0, taken from the writer itself.
fn header(state: &Path) -> Vec<u8> {
    match luigid_rs::persistence::journal::JournalWriter::create(state, 0, &Default::default()) {
        Ok(w) => drop(w),
        Err(_) => return Vec::new(),
    }
    std::fs::read(journal_path(state, 0)).unwrap_or_default()
}

fn read_and_replay(file: &Path, bytes: &[u8]) {
    if std::fs::write(file, bytes).is_err() {
        return;
    }
    let Ok(r) = read_journal(file, 0) else {
        return;
    };
    assert!(r.valid_len as usize <= bytes.len());
    if r.dropped_tail.is_none() && bytes.len() >= 16 {
        assert_eq!(r.valid_len as usize, bytes.len());
    }
    let mut s = Scheduler::new(SchedulerConfig::default());
    for rec in r.records.iter().flatten() {
        let args = luigid_rs::api::Args::from_map(rec.args);
        let _ = luigid_rs::api::call(&mut s, &rec.method, args, rec.now);
        s.drain_events();
    }
    assert!(serde_json::to_vec(&s).is_ok());
}

pub fn check(data: &[u8]) {
    let state = state_path();
    let file = journal_path(&state, 0);
    let head = header(&state);
    read_and_replay(&file, data);
    if head.len() == 16 {
        let mut raw = head.clone();
        raw.extend_from_slice(data);
        read_and_replay(&file, &raw);
        // Split the input at 0x1e bytes into payloads framed as the writer frames them.
        let mut framed = head;
        for payload in data.split(|b| *b == 0x1e) {
            framed.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            framed.extend_from_slice(&crc32fast::hash(payload).to_le_bytes());
            framed.extend_from_slice(payload);
        }
        read_and_replay(&file, &framed);
    }
    let _ = std::fs::remove_file(&file);
}
