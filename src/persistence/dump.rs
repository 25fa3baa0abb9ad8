//! `luigid-rs state dump STATE_PATH [--pretty]`: the snapshot at STATE_PATH (any version,
//! binary or JSON) printed as one JSON document, for a person or a script to read. The
//! journals beside it are already text (one record per line).

use std::io::{self, BufWriter, Write};
use std::path::PathBuf;

use super::snapshot::{self, LoadError};
use crate::scheduler::Scheduler;

const USAGE: &str = "usage: luigid-rs state dump STATE_PATH [--pretty]

Prints the snapshot at STATE_PATH as JSON: {\"format\", \"journal_gen\", \"saved_at\",
\"state\"}, the state in the field names of the scheduler's records. Changes made after the
snapshot are in the journals beside it (STATE_PATH.journal.N, one JSON record per line).
Exit status: 0 printed, 1 unreadable, 2 bad usage.";

pub fn state_main(args: &[String]) -> i32 {
    let mut path = None;
    let mut pretty = false;
    let mut it = args.iter();
    match it.next().map(String::as_str) {
        Some("dump") => {}
        Some("-h" | "--help") => {
            println!("{USAGE}");
            return 0;
        }
        _ => {
            eprintln!("{USAGE}");
            return 2;
        }
    }
    for a in it {
        match a.as_str() {
            "--pretty" => pretty = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return 0;
            }
            s if !s.starts_with('-') && path.is_none() => path = Some(PathBuf::from(s)),
            other => {
                eprintln!("{USAGE}\nluigid-rs: error: unexpected argument {other:?}");
                return 2;
            }
        }
    }
    let Some(path) = path else {
        eprintln!("{USAGE}");
        return 2;
    };
    let loaded = match snapshot::read::<Scheduler>(&path) {
        Ok(Some(l)) => l,
        Ok(None) => {
            eprintln!(
                "luigid-rs: {}: no snapshot (an empty state)",
                path.display()
            );
            return 1;
        }
        Err(LoadError::Corrupt { path, why }) => {
            eprintln!("luigid-rs: {}: {why}", path.display());
            return 1;
        }
        Err(LoadError::Io(e)) => {
            eprintln!("luigid-rs: {}: {e}", path.display());
            return 1;
        }
    };
    let doc = serde_json::json!({
        "format": snapshot::FORMAT,
        "journal_gen": loaded.journal_gen,
        "saved_at": loaded.saved_at,
    });
    let out = io::stdout().lock();
    let mut w = BufWriter::with_capacity(1 << 20, out);
    let res = (|| -> io::Result<()> {
        // The header's fields, then the state streamed from the records (no second
        // copy of the whole state as a JSON tree).
        let head = if pretty {
            serde_json::to_string_pretty(&doc)?
        } else {
            serde_json::to_string(&doc)?
        };
        let head = head.trim_end_matches('}').trim_end();
        w.write_all(head.as_bytes())?;
        w.write_all(if pretty {
            b",\n  \"state\": "
        } else {
            b",\"state\":"
        })?;
        if pretty {
            serde_json::to_writer_pretty(&mut w, &loaded.state)?;
        } else {
            serde_json::to_writer(&mut w, &loaded.state)?;
        }
        w.write_all(if pretty { b"\n}\n" } else { b"}\n" })?;
        w.flush()
    })();
    match res {
        Ok(()) => 0,
        // A closed pipe (`| head`) is the reader's choice, not a failure.
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => 0,
        Err(e) => {
            eprintln!("luigid-rs: state dump: {e}");
            1
        }
    }
}
