//! The wall clock, read in one place. The event loop reads it once per iteration and
//! passes `now` down; the few readers outside the loop (startup, history pages, the
//! metrics' event times, the log file's rotation) call it here.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, as luigid's `time.time()`. A clock set before 1970
/// reads as 0.
pub fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// Whole seconds since the Unix epoch of `t` (0 before 1970): file modification times.
pub fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn times_before_the_epoch_read_as_zero() {
        assert_eq!(unix_secs(UNIX_EPOCH + Duration::from_millis(2500)), 2);
        assert_eq!(unix_secs(UNIX_EPOCH - Duration::from_secs(5)), 0);
        assert!(unix_now() > 1.7e9);
    }
}
