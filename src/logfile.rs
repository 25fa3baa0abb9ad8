//! The server log file, `<logdir>/luigi-server.log`, rotated as luigid rotates it: once a
//! day, the old file renamed to `luigi-server.log.YYYY-MM-DD`, seven old files kept
//! (luigi/process.py: `get_spool_handler`, a `TimedRotatingFileHandler` with `when='d'`
//! and `backupCount=7`). SIGHUP reopens the file, for an external logrotate.
//!
//! A log line must never stop or slow the server: every failure (a full disk, a removed
//! directory) is swallowed and counted, and the next line tries again.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

pub const FILE_NAME: &str = "luigi-server.log";
/// Rotated files kept, as luigid.
pub const KEEP: usize = 7;
const DAY: u64 = 86_400;

/// Lines that could not be written (for the curious; the log cannot say so itself).
pub static FAILED_WRITES: AtomicU64 = AtomicU64::new(0);

pub struct RotatingLog {
    dir: PathBuf,
    file: Option<File>,
    /// Unix time of the next rotation.
    rotate_at: u64,
    /// Set by the SIGHUP handler: reopen before the next line.
    reopen: Arc<AtomicBool>,
    clock: fn() -> u64,
}

fn unix_now() -> u64 {
    crate::clock::unix_secs(std::time::SystemTime::now())
}

impl RotatingLog {
    /// Open (append) `<dir>/luigi-server.log`. The first rotation comes a day after the
    /// file was created (its modification time when it already exists and is older).
    pub fn open(dir: &Path, reopen: Arc<AtomicBool>) -> io::Result<RotatingLog> {
        RotatingLog::open_with_clock(dir, reopen, unix_now)
    }

    fn open_with_clock(
        dir: &Path,
        reopen: Arc<AtomicBool>,
        clock: fn() -> u64,
    ) -> io::Result<RotatingLog> {
        let path = dir.join(FILE_NAME);
        let file = open_append(&path)?;
        // Rotation follows the file's age, as Python's handler does on start.
        let since = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .ok()
            .map(crate::clock::unix_secs)
            .unwrap_or_else(clock);
        Ok(RotatingLog {
            dir: dir.to_path_buf(),
            file: Some(file),
            rotate_at: since.min(clock()) + DAY,
            reopen,
            clock,
        })
    }

    fn path(&self) -> PathBuf {
        self.dir.join(FILE_NAME)
    }

    /// Rename the current file to its dated name, start a new one, drop the oldest.
    fn rotate(&mut self, now: u64) {
        let start = self.rotate_at.saturating_sub(DAY);
        let dated = self.dir.join(format!("{FILE_NAME}.{}", utc_date(start)));
        self.file = None;
        if !dated.exists() {
            let _ = std::fs::rename(self.path(), &dated);
        }
        self.file = open_append(&self.path()).ok();
        while self.rotate_at <= now {
            self.rotate_at += DAY;
        }
        self.remove_old();
    }

    fn remove_old(&self) {
        let prefix = format!("{FILE_NAME}.");
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        let mut old: Vec<String> = entries
            .flatten()
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| {
                n.strip_prefix(&prefix).is_some_and(|d| {
                    d.len() == 10 && d.bytes().all(|b| b.is_ascii_digit() || b == b'-')
                })
            })
            .collect();
        old.sort();
        let extra = old.len().saturating_sub(KEEP);
        for name in &old[..extra] {
            let _ = std::fs::remove_file(self.dir.join(name));
        }
    }
}

fn open_append(path: &Path) -> io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// YYYY-MM-DD of a Unix time, in UTC (Howard Hinnant's days-to-civil algorithm).
fn utc_date(t: u64) -> String {
    let days = (t / DAY) as i64;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

impl Write for RotatingLog {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let now = (self.clock)();
        if self.reopen.swap(false, Ordering::AcqRel) {
            self.file = open_append(&self.path()).ok();
        }
        if now >= self.rotate_at {
            self.rotate(now);
        }
        if self.file.is_none() {
            self.file = open_append(&self.path()).ok();
        }
        let ok = self.file.as_mut().is_some_and(|f| f.write_all(buf).is_ok());
        if !ok {
            FAILED_WRITES.fetch_add(1, Ordering::Relaxed);
        }
        // Always "written": a logger that errors would stop the caller.
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if let Some(f) = self.file.as_mut() {
            let _ = f.flush();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64 as Clock;

    static NOW: Clock = Clock::new(0);
    fn fake_now() -> u64 {
        NOW.load(Ordering::SeqCst)
    }

    #[test]
    fn dates_are_utc_calendar_days() {
        assert_eq!(utc_date(0), "1970-01-01");
        assert_eq!(utc_date(951_782_400), "2000-02-29");
        assert_eq!(utc_date(1_796_601_600), "2026-12-07");
    }

    #[test]
    fn rotates_daily_keeps_seven_and_reopens_on_request() {
        let dir = tempfile::tempdir().unwrap();
        let start = 1_796_601_600; // 2026-12-07 00:00 UTC
        NOW.store(start, Ordering::SeqCst);
        let reopen = Arc::new(AtomicBool::new(false));
        let mut log = RotatingLog::open_with_clock(dir.path(), reopen.clone(), fake_now).unwrap();
        // A new file: its age is now, so rotation is a day away.
        log.rotate_at = start + DAY;
        writeln!(log, "day 0").unwrap();
        for day in 1..=10u64 {
            NOW.store(start + day * DAY + 5, Ordering::SeqCst);
            writeln!(log, "day {day}").unwrap();
        }
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names.len(), KEEP + 1, "{names:?}");
        assert_eq!(names[0], "luigi-server.log");
        assert_eq!(names[1], "luigi-server.log.2026-12-10");
        assert_eq!(names[KEEP], "luigi-server.log.2026-12-16");
        let current = std::fs::read_to_string(dir.path().join(FILE_NAME)).unwrap();
        assert_eq!(current, "day 10\n");
        let last = std::fs::read_to_string(dir.path().join("luigi-server.log.2026-12-16")).unwrap();
        assert_eq!(last, "day 9\n");
        // An external logrotate moves the file away, then sends SIGHUP.
        std::fs::rename(dir.path().join(FILE_NAME), dir.path().join("moved")).unwrap();
        reopen.store(true, Ordering::SeqCst);
        writeln!(log, "after hup").unwrap();
        let fresh = std::fs::read_to_string(dir.path().join(FILE_NAME)).unwrap();
        assert_eq!(fresh, "after hup\n");
    }

    #[test]
    fn a_failing_write_is_swallowed_and_retried() {
        let dir = tempfile::tempdir().unwrap();
        let reopen = Arc::new(AtomicBool::new(false));
        let mut log = RotatingLog::open(dir.path(), reopen).unwrap();
        // The directory disappears: lines are dropped, never an error.
        let gone = dir.path().to_path_buf();
        log.file = None;
        std::fs::remove_dir_all(&gone).unwrap();
        let before = FAILED_WRITES.load(Ordering::SeqCst);
        assert_eq!(log.write(b"lost\n").unwrap(), 5);
        assert!(FAILED_WRITES.load(Ordering::SeqCst) > before);
        // It comes back: the next line lands.
        std::fs::create_dir_all(&gone).unwrap();
        log.write_all(b"back\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(gone.join(FILE_NAME)).unwrap(),
            "back\n"
        );
    }
}
