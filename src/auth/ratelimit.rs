//! Failed-login limiting per client address: after `max_failures` failures within
//! `window` seconds, credentials from that address are refused (429) for `lockout` seconds.
//! Time is passed in; nothing here reads a clock.

use std::collections::HashMap;

/// Addresses tracked at most; past it, stale entries are dropped first, then the one whose
/// window started longest ago, so a flood of addresses cannot grow memory without bound.
const MAX_TRACKED: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    window_start: f64,
    blocked_until: f64,
}

#[derive(Debug, Clone)]
pub struct RateLimiter {
    pub max_failures: u32,
    pub window: f64,
    pub lockout: f64,
    entries: HashMap<String, Entry>,
    cap: usize,
}

impl RateLimiter {
    pub fn new(max_failures: u32, window: f64, lockout: f64) -> RateLimiter {
        RateLimiter {
            max_failures,
            window,
            lockout,
            entries: HashMap::new(),
            cap: MAX_TRACKED,
        }
    }

    /// Seconds left of a lockout of `key` at `now`, if it is locked out.
    pub fn blocked(&self, key: &str, now: f64) -> Option<f64> {
        let e = self.entries.get(key)?;
        (now < e.blocked_until).then_some(e.blocked_until - now)
    }

    /// Count one failure; true when this failure starts a lockout. Successes do not reset
    /// the count, or an attacker could interleave logins to an account of their own with
    /// guesses at another one.
    pub fn record_failure(&mut self, key: &str, now: f64) -> bool {
        if self.max_failures == 0 {
            return false;
        }
        if !self.entries.contains_key(key) && self.entries.len() >= self.cap {
            self.make_room(now);
        }
        let e = self.entries.entry(key.to_string()).or_insert(Entry {
            failures: 0,
            window_start: now,
            blocked_until: f64::NEG_INFINITY,
        });
        if now - e.window_start >= self.window || now < e.window_start {
            e.failures = 0;
            e.window_start = now;
        }
        e.failures = e.failures.saturating_add(1);
        if e.failures >= self.max_failures && now >= e.blocked_until {
            e.blocked_until = now + self.lockout;
            e.failures = 0;
            e.window_start = now;
            return true;
        }
        false
    }

    fn make_room(&mut self, now: f64) {
        let window = self.window;
        self.entries
            .retain(|_, e| now < e.blocked_until || now - e.window_start < window);
        if self.entries.len() >= self.cap {
            // Lockouts are the point of the table: evict an address that is only counting.
            let oldest = self
                .entries
                .iter()
                .min_by(|a, b| {
                    let (ea, eb) = (a.1, b.1);
                    (now < ea.blocked_until)
                        .cmp(&(now < eb.blocked_until))
                        .then(ea.window_start.total_cmp(&eb.window_start))
                })
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.entries.remove(&k);
            }
        }
    }

    #[cfg(test)]
    fn with_cap(mut self, cap: usize) -> RateLimiter {
        self.cap = cap;
        self
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locks_after_max_failures_in_window_and_releases() {
        let mut r = RateLimiter::new(3, 60.0, 300.0);
        assert!(!r.record_failure("a", 0.0));
        assert!(!r.record_failure("a", 10.0));
        assert_eq!(r.blocked("a", 10.0), None);
        assert!(r.record_failure("a", 20.0));
        assert_eq!(r.blocked("a", 20.0), Some(300.0));
        assert_eq!(r.blocked("a", 319.0), Some(1.0));
        assert_eq!(r.blocked("a", 320.0), None);
        assert_eq!(r.blocked("b", 20.0), None);
    }

    #[test]
    fn failures_outside_the_window_start_over() {
        let mut r = RateLimiter::new(3, 60.0, 300.0);
        r.record_failure("a", 0.0);
        r.record_failure("a", 30.0);
        // The window began at 0; at 61 it is over and this is failure 1 of a new one.
        assert!(!r.record_failure("a", 61.0));
        assert!(!r.record_failure("a", 62.0));
        assert!(r.record_failure("a", 63.0));
    }

    #[test]
    fn zero_disables_the_limit() {
        let mut r = RateLimiter::new(0, 60.0, 300.0);
        for i in 0..100 {
            assert!(!r.record_failure("a", i as f64));
        }
        assert_eq!(r.blocked("a", 100.0), None);
    }

    #[test]
    fn memory_is_bounded_and_locked_entries_survive_stale_ones() {
        let mut r = RateLimiter::new(2, 60.0, 300.0).with_cap(3);
        r.record_failure("locked", 0.0);
        r.record_failure("locked", 1.0);
        r.record_failure("x", 2.0);
        r.record_failure("y", 3.0);
        // At 100 the windows of x and y are over: they go, the lockout stays.
        r.record_failure("z", 100.0);
        assert_eq!(r.tracked(), 2);
        assert!(r.blocked("locked", 100.0).is_some());
        for i in 0..50 {
            r.record_failure(&format!("n{i}"), 101.0);
            assert!(r.tracked() <= 3);
        }
        assert!(r.blocked("locked", 101.0).is_some());
    }
}
