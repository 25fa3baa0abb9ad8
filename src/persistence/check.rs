//! `luigid-rs check-state STATE_PATH [--repair NEW_STATE_PATH]`: say what a start on
//! this state would do, file by file, without changing anything; with `--repair`, write a
//! copy that keeps every record that is still whole, for the operator to choose.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::faults::Faults;
use super::journal::{self, JournalWriter, ReadError};
use super::snapshot::{self, LoadError};
use crate::scheduler::Scheduler;

const USAGE: &str = "usage: luigid-rs check-state STATE_PATH [--repair NEW_STATE_PATH]

Reads the snapshot at STATE_PATH and its journals (STATE_PATH.journal.N) as a start
would, and says what a start would do: load them, drop a torn last record, or refuse
(naming the file, the byte offset and how much follows). Nothing is changed.

--repair NEW_STATE_PATH writes a copy of the state at NEW_STATE_PATH (and its journals
beside it) that keeps every snapshot and every journal record that is still whole,
skipping damaged bytes. Start the server on the copy once you have looked at it.
Exit status: 0 when a start would succeed, 1 when it would refuse, 2 on bad usage.";

/// What one file holds, as a start would see it.
struct Report {
    text: String,
    start_refused: bool,
}

pub fn check_state_main(args: &[String]) -> i32 {
    let mut state = None;
    let mut repair = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--repair" => match it.next() {
                Some(p) => repair = Some(PathBuf::from(p)),
                None => {
                    eprintln!("{USAGE}\nluigid-rs: error: --repair needs a path");
                    return 2;
                }
            },
            "-h" | "--help" => {
                println!("{USAGE}");
                return 0;
            }
            s if !s.starts_with('-') && state.is_none() => state = Some(PathBuf::from(s)),
            other => {
                eprintln!("{USAGE}\nluigid-rs: error: unexpected argument {other:?}");
                return 2;
            }
        }
    }
    let Some(state) = state else {
        eprintln!("{USAGE}");
        return 2;
    };
    let report = inspect(&state);
    print!("{}", report.text);
    if let Some(new) = repair {
        match write_repaired(&state, &new) {
            Ok(text) => print!("{text}"),
            Err(e) => {
                eprintln!("luigid-rs: check-state: {e}");
                return 1;
            }
        }
    }
    i32::from(report.start_refused)
}

fn inspect(state: &Path) -> Report {
    let mut text = String::new();
    let mut refused = false;
    let mut snapshot_gen = 0;
    match snapshot::read::<Scheduler>(state) {
        Ok(None) => {
            let _ = writeln!(text, "snapshot {}: none (an empty state)", state.display());
        }
        Ok(Some(mut l)) => {
            snapshot_gen = l.journal_gen;
            l.state.rebuild_indexes();
            let _ = writeln!(
                text,
                "snapshot {}: ok, {} tasks, saved at {:.0}, journals from generation {}",
                state.display(),
                l.state.task_count(),
                l.saved_at,
                l.journal_gen
            );
        }
        Err(LoadError::Corrupt { why, .. }) => {
            refused = true;
            let _ = writeln!(text, "snapshot {}: UNUSABLE: {why}", state.display());
        }
        Err(LoadError::Io(e)) => {
            refused = true;
            let _ = writeln!(text, "snapshot {}: cannot be read: {e}", state.display());
        }
    }
    let gens = journal::list_generations(state).unwrap_or_default();
    let live: Vec<u64> = gens
        .iter()
        .copied()
        .filter(|&g| g >= snapshot_gen)
        .collect();
    let mut total = 0usize;
    for &g in &gens {
        let jp = journal::journal_path(state, g);
        if g < snapshot_gen {
            let _ = writeln!(
                text,
                "journal {}: older than the snapshot; a start deletes it",
                jp.display()
            );
            continue;
        }
        match journal::read_journal(&jp, g) {
            Ok(r) => {
                total += r.records.len();
                let _ = write!(
                    text,
                    "journal {}: {} records",
                    jp.display(),
                    r.records.len()
                );
                if let Some(why) = r.dropped_tail {
                    if live.last() == Some(&g) || r.valid_len == 0 {
                        let _ = write!(
                            text,
                            "; a torn last record at byte {} ({why}) would be dropped (never \
                             acknowledged)",
                            r.valid_len
                        );
                    } else {
                        refused = true;
                        let _ = write!(
                            text,
                            "; DAMAGED: a torn record at byte {} ({why}) in a generation that \
                             later ones follow",
                            r.valid_len
                        );
                    }
                }
                let _ = writeln!(text);
            }
            Err(e @ ReadError::Corrupt(_)) | Err(e @ ReadError::BadHeader { .. }) => {
                refused = true;
                let _ = writeln!(text, "journal DAMAGED: {e}");
            }
            Err(ReadError::Io(e)) => {
                refused = true;
                let _ = writeln!(text, "journal {}: cannot be read: {e}", jp.display());
            }
        }
    }
    if refused {
        let _ = writeln!(
            text,
            "a start would REFUSE and change nothing; --repair NEW_STATE_PATH writes a copy \
             that keeps every whole record"
        );
    } else {
        let _ = writeln!(
            text,
            "a start would load this state and replay {total} records"
        );
    }
    Report {
        text,
        start_refused: refused,
    }
}

/// Write the repaired copy; returns what it did.
fn write_repaired(state: &Path, new: &Path) -> Result<String, String> {
    if new.exists()
        || !journal::list_generations(new)
            .unwrap_or_default()
            .is_empty()
    {
        return Err(format!(
            "{} (or journals beside it) exists; choose a new path",
            new.display()
        ));
    }
    let mut text = String::new();
    let mut first_gen = 0;
    match snapshot::read::<Scheduler>(state) {
        Ok(Some(l)) => {
            first_gen = l.journal_gen;
            snapshot::write_atomic(
                new,
                l.journal_gen,
                l.saved_at,
                &l.state,
                false,
                &Faults::default(),
            )
            .map_err(|e| format!("cannot write {}: {e}", new.display()))?;
            let _ = writeln!(text, "repair: snapshot copied to {}", new.display());
        }
        Ok(None) => {}
        Err(e) => {
            let _ = writeln!(
                text,
                "repair: the snapshot is unusable ({e}); the copy has no snapshot, so its \
                 journals replay onto an empty state"
            );
        }
    }
    for g in journal::list_generations(state).map_err(|e| e.to_string())? {
        if g < first_gen {
            continue;
        }
        let jp = journal::journal_path(state, g);
        let (records, skipped) =
            journal::salvage_journal(&jp).map_err(|e| format!("{}: {e}", jp.display()))?;
        let mut w = JournalWriter::create(new, g, &Faults::default())
            .map_err(|e| format!("cannot create the journal beside {}: {e}", new.display()))?;
        let mut buf = Vec::new();
        for r in &records {
            r.encode(&mut buf);
        }
        w.write(&buf)
            .and_then(|()| w.sync())
            .map_err(|e| format!("cannot write {}: {e}", w.path.display()))?;
        let skipped_bytes: u64 = skipped.iter().map(|(a, b)| b - a).sum();
        let _ = writeln!(
            text,
            "repair: {} -> {}: kept {} records, skipped {} damaged bytes",
            jp.display(),
            w.path.display(),
            records.len(),
            skipped_bytes
        );
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Map, Value};

    fn args(i: u64) -> Map<String, Value> {
        json!({"task_id": format!("T{i}"), "worker": "w", "status": "PENDING"})
            .as_object()
            .cloned()
            .unwrap_or_default()
    }

    #[test]
    fn reports_damage_then_repairs_keeping_every_whole_record() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("state.json");
        let mut w = JournalWriter::create(&state, 0, &Faults::default()).unwrap();
        let mut buf = Vec::new();
        for i in 0..6 {
            journal::encode_record("add_task", &args(i), 10.0 + i as f64, &mut buf);
        }
        w.write(&buf).unwrap();
        drop(w);
        let jp = journal::journal_path(&state, 0);
        let clean = inspect(&state);
        assert!(!clean.start_refused, "{}", clean.text);
        assert!(clean.text.contains("replay 6 records"), "{}", clean.text);
        let mut data = std::fs::read(&jp).unwrap();
        let mid = data.len() / 2;
        data[mid] ^= 0x01;
        std::fs::write(&jp, &data).unwrap();
        let r = inspect(&state);
        assert!(r.start_refused);
        assert!(
            r.text.contains("DAMAGED") && r.text.contains("byte "),
            "{}",
            r.text
        );
        let new = dir.path().join("repaired.json");
        let text = write_repaired(&state, &new).unwrap();
        assert!(text.contains("kept 5 records"), "{text}");
        assert_eq!(
            std::fs::read(&jp).unwrap(),
            data,
            "the original is untouched"
        );
        let fixed = inspect(&new);
        assert!(!fixed.start_refused, "{}", fixed.text);
        assert!(fixed.text.contains("replay 5 records"), "{}", fixed.text);
        assert!(write_repaired(&state, &new).is_err(), "never overwrites");
    }
}
