//! The PostgreSQL side of the state store: the tables, the statements, and the work done
//! off the loop thread (waiting for leadership and loading the state; uploading a
//! snapshot). The table layout is described in the module doc of [`crate::ha`].

use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use postgres::fallible_iterator::FallibleIterator;

use crate::history::backend::PgConn;

/// A state-store session finds a dead server or network within this long.
pub const DEAD_PEER: Duration = Duration::from_secs(5);

/// The builder of state-store sessions.
fn pg_conn(url: &NetUrl) -> Result<PgConn, String> {
    let mut conn = PgConn::new(url, false).map_err(|e| e.to_string())?;
    conn.detect_dead_peer(DEAD_PEER);
    Ok(conn)
}
use crate::history::url::NetUrl;

/// The advisory lock every luigid-rs sharing a state store competes for: a constant
/// derived from a fixed name, so that all versions agree on it.
pub const LOCK_KEY: i64 = fnv1a64(b"luigid_rs state_store leader") as i64;

/// Snapshots are stored in pieces of this size (one row each).
pub const SNAPSHOT_CHUNK: usize = 1 << 20;

const fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
        i += 1;
    }
    h
}

/// Created by the first leader (only the lock holder runs it, so two servers never
/// race on it).
pub const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS luigid_rs_leader (
    id integer PRIMARY KEY CHECK (id = 1),
    term bigint NOT NULL,
    holder text NOT NULL,
    since timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS luigid_rs_journal (
    seq bigserial PRIMARY KEY,
    term bigint NOT NULL,
    records bytea NOT NULL
);
CREATE SEQUENCE IF NOT EXISTS luigid_rs_snapshot_id;
CREATE TABLE IF NOT EXISTS luigid_rs_snapshot (
    id bigint NOT NULL,
    n integer NOT NULL,
    journal_seq_covered bigint NOT NULL,
    term bigint NOT NULL,
    data bytea NOT NULL,
    PRIMARY KEY (id, n)
);
";

/// A new leader's term: one more than the last one.
pub const TAKE_TERM: &str = "INSERT INTO luigid_rs_leader (id, term, holder) VALUES (1, 1, $1) \
     ON CONFLICT (id) DO UPDATE SET term = luigid_rs_leader.term + 1, \
     holder = EXCLUDED.holder, since = now() RETURNING term";

/// One loop iteration's records, written only while the term is still ours (the fence,
/// in the same statement and so the same transaction). No row back: fenced out.
pub const APPEND: &str = "INSERT INTO luigid_rs_journal (term, records) \
     SELECT $1::bigint, $2::bytea WHERE EXISTS \
     (SELECT 1 FROM luigid_rs_leader WHERE id = 1 AND term = $1::bigint) RETURNING seq";

/// The leader's check that its session and term are still alive when idle.
pub const PROBE: &str = "SELECT term FROM luigid_rs_leader WHERE id = 1";

/// What a new leader hands to the loop thread: its session (which holds the lock) and
/// the stored state.
pub struct Acquired {
    pub client: postgres::Client,
    pub state: Stored,
}

/// The state as read from PostgreSQL by a new leader.
pub struct Stored {
    pub term: i64,
    /// The latest snapshot, written to a local file, and the last journal row it covers.
    pub snapshot: Option<(PathBuf, i64)>,
    /// The journal rows after the snapshot, concatenated (framed records).
    pub journal: Vec<u8>,
    pub journal_rows: u64,
    /// The last journal row (0: none).
    pub last_seq: i64,
    /// Seconds spent loading from PostgreSQL.
    pub load_secs: f64,
}

/// What the election thread reports.
pub enum ElectorMsg {
    /// The lock is ours.
    Acquired(Box<Acquired>),
    /// The first try found the lock held (or the database away): starting as standby.
    Standby(String),
}

/// The thread waiting for leadership.
pub struct Elector {
    pub stop: Arc<AtomicBool>,
    pub rx: mpsc::Receiver<ElectorMsg>,
    pub handle: Option<std::thread::JoinHandle<()>>,
}

impl Elector {
    /// `delay`: wait this long before the first try (a server that just lost its
    /// session lets the others go first).
    pub fn start(
        url: NetUrl,
        interval: Duration,
        delay: Duration,
        holder: String,
        spool: PathBuf,
    ) -> std::io::Result<Elector> {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let handle = std::thread::Builder::new()
            .name("ha-elector".into())
            .spawn({
                let stop = stop.clone();
                move || {
                    nap(delay, &stop);
                    elect(&url, interval, &holder, &spool, &stop, &tx)
                }
            })?;
        Ok(Elector {
            stop,
            rx,
            handle: Some(handle),
        })
    }
}

impl Drop for Elector {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// Sleep `d`, waking early when asked to stop.
fn nap(d: Duration, stop: &AtomicBool) {
    let until = Instant::now() + d;
    while !stop.load(Ordering::Acquire) {
        let left = until.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return;
        }
        std::thread::sleep(left.min(Duration::from_millis(50)));
    }
}

fn elect(
    url: &NetUrl,
    interval: Duration,
    holder: &str,
    spool: &Path,
    stop: &AtomicBool,
    tx: &mpsc::Sender<ElectorMsg>,
) {
    let mut client: Option<postgres::Client> = None;
    let mut first = true;
    let mut last_error = String::new();
    while !stop.load(Ordering::Acquire) {
        let attempt = (|| -> Result<Option<Stored>, String> {
            if client.as_ref().is_none_or(|c| c.is_closed()) {
                let conn = pg_conn(url)?;
                client = Some(conn.connect_new().map_err(|e| e.to_string())?);
            }
            let Some(c) = client.as_mut() else {
                return Ok(None);
            };
            let got: bool = c
                .query_one("SELECT pg_try_advisory_lock($1)", &[&LOCK_KEY])
                .and_then(|r| r.try_get(0))
                .map_err(|e| e.to_string())?;
            if !got {
                return Ok(None);
            }
            take_over(c, holder, spool).map(Some)
        })();
        match attempt {
            Ok(Some(state)) => {
                let Some(client) = client.take() else { return };
                let _ = tx.send(ElectorMsg::Acquired(Box::new(Acquired { client, state })));
                return;
            }
            Ok(None) => {
                if std::mem::take(&mut first) {
                    let _ = tx.send(ElectorMsg::Standby(
                        "another luigid-rs holds the leadership".into(),
                    ));
                }
            }
            Err(e) => {
                // Closing the session lets go of the lock, should we have taken it.
                client = None;
                if e != last_error {
                    log::warn!("state store: cannot take part in the leader election: {e}");
                    last_error = e.clone();
                }
                if std::mem::take(&mut first) {
                    let _ = tx.send(ElectorMsg::Standby(e));
                }
            }
        }
        nap(interval, stop);
    }
}

/// With the lock held: create the tables if missing, take the next term, and read the
/// state.
fn take_over(c: &mut postgres::Client, holder: &str, spool: &Path) -> Result<Stored, String> {
    let t0 = Instant::now();
    let e = |e: postgres::Error| e.to_string();
    c.batch_execute(SCHEMA).map_err(e)?;
    let term: i64 = c
        .query_one(TAKE_TERM, &[&holder])
        .and_then(|r| r.try_get(0))
        .map_err(e)?;
    let snap = c
        .query_opt(
            "SELECT id, journal_seq_covered FROM luigid_rs_snapshot WHERE n = 0 \
             ORDER BY id DESC LIMIT 1",
            &[],
        )
        .map_err(e)?;
    let mut covered = 0i64;
    let mut snapshot = None;
    if let Some(row) = snap {
        let id: i64 = row.try_get(0).map_err(e)?;
        covered = row.try_get(1).map_err(e)?;
        let path = spool.join("loaded.snapshot");
        let mut file = File::create(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut rows = c
            .query_raw(
                "SELECT data FROM luigid_rs_snapshot WHERE id = $1 ORDER BY n",
                [&id],
            )
            .map_err(e)?;
        while let Some(row) = rows.next().map_err(e)? {
            let data: &[u8] = row.try_get(0).map_err(e)?;
            file.write_all(data)
                .map_err(|e| format!("{}: {e}", path.display()))?;
        }
        file.flush().map_err(|e| e.to_string())?;
        snapshot = Some((path, covered));
    }
    let mut journal = Vec::new();
    let mut last_seq = covered;
    let mut journal_rows = 0;
    let mut rows = c
        .query_raw(
            "SELECT seq, records FROM luigid_rs_journal WHERE seq > $1 ORDER BY seq",
            [&covered],
        )
        .map_err(e)?;
    while let Some(row) = rows.next().map_err(e)? {
        last_seq = row.try_get(0).map_err(e)?;
        let data: &[u8] = row.try_get(1).map_err(e)?;
        journal.extend_from_slice(data);
        journal_rows += 1;
    }
    drop(rows);
    // A sequence that started after the last snapshot: make sure later rows sort after.
    let last_seq = last_seq.max(covered);
    Ok(Stored {
        term,
        snapshot,
        journal,
        journal_rows,
        last_seq,
        load_secs: t0.elapsed().as_secs_f64(),
    })
}

/// Upload the snapshot file at `path` (covering journal rows up to `covered`) in one
/// transaction, fenced by `term`; then remove the older snapshots and the journal rows it
/// covers. Runs on its own thread with its own session.
pub fn upload_snapshot(url: &NetUrl, term: i64, covered: i64, path: &Path) -> Result<u64, String> {
    let conn = pg_conn(url)?;
    let mut client = conn.connect_new().map_err(|e| e.to_string())?;
    let e = |e: postgres::Error| e.to_string();
    let mut tx = client.transaction().map_err(e)?;
    // Shared row lock: a new leader's term change waits until this commits or aborts.
    let current: i64 = tx
        .query_one(
            "SELECT term FROM luigid_rs_leader WHERE id = 1 FOR SHARE",
            &[],
        )
        .and_then(|r| r.try_get(0))
        .map_err(e)?;
    if current != term {
        return Err(format!(
            "leadership moved on (term {current}, ours {term}); snapshot dropped"
        ));
    }
    let id: i64 = tx
        .query_one("SELECT nextval('luigid_rs_snapshot_id')", &[])
        .and_then(|r| r.try_get(0))
        .map_err(e)?;
    let insert = tx
        .prepare(
            "INSERT INTO luigid_rs_snapshot (id, n, journal_seq_covered, term, data) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .map_err(e)?;
    let mut file = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut buf = vec![0u8; SNAPSHOT_CHUNK];
    let mut n: i32 = 0;
    let mut total = 0u64;
    loop {
        let got = read_full(&mut file, &mut buf).map_err(|e| format!("{}: {e}", path.display()))?;
        if got == 0 {
            break;
        }
        tx.execute(&insert, &[&id, &n, &covered, &term, &&buf[..got]])
            .map_err(e)?;
        n += 1;
        total += got as u64;
    }
    tx.execute("DELETE FROM luigid_rs_snapshot WHERE id < $1", &[&id])
        .map_err(e)?;
    tx.execute("DELETE FROM luigid_rs_journal WHERE seq <= $1", &[&covered])
        .map_err(e)?;
    tx.commit().map_err(e)?;
    Ok(total)
}

fn read_full(f: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_key_is_fixed() {
        // Every version must compete for the same lock: the key never changes.
        assert_eq!(LOCK_KEY, fnv1a64(b"luigid_rs state_store leader") as i64);
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
    }
}
