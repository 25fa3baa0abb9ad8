//! Timestamps as luigid stores them: local naive wall-clock time written as text in the
//! form SQLAlchemy uses for SQLite (`2026-11-24 08:00:00.123456`, microseconds always
//! present). The fixed width makes text order equal time order, which the range queries
//! rely on.

/// Local naive time of `epoch_secs`, formatted as SQLAlchemy writes it for SQLite.
pub fn local_naive(epoch_secs: f64) -> String {
    let epoch_secs = if epoch_secs.is_finite() {
        epoch_secs
    } else {
        0.0
    };
    let mut secs = epoch_secs.floor() as i64;
    let mut micros = ((epoch_secs - secs as f64) * 1e6).round() as i64;
    if micros >= 1_000_000 {
        secs += 1;
        micros -= 1_000_000;
    }
    let (y, mo, d, h, mi, s) = local_fields(secs);
    format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02}.{micros:06}")
}

/// Calendar fields of `secs` in the process's local time zone (TZ), falling back to UTC
/// when the C library cannot convert it.
fn local_fields(secs: i64) -> (i64, u32, u32, u32, u32, u32) {
    let t = secs as libc::time_t;
    // SAFETY: localtime_r only writes into the tm we pass; a zeroed tm is a valid value.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    let ok = unsafe { !libc::localtime_r(&t, &mut tm).is_null() };
    if ok {
        (
            tm.tm_year as i64 + 1900,
            (tm.tm_mon + 1) as u32,
            tm.tm_mday as u32,
            tm.tm_hour as u32,
            tm.tm_min as u32,
            tm.tm_sec.min(59) as u32,
        )
    } else {
        utc_fields(secs)
    }
}

fn utc_fields(secs: i64) -> (i64, u32, u32, u32, u32, u32) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    (
        y,
        m,
        d,
        (rem / 3600) as u32,
        (rem % 3600 / 60) as u32,
        (rem % 60) as u32,
    )
}

/// Howard Hinnant's days-to-civil algorithm (proleptic Gregorian).
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Seconds of a stored naive timestamp on a naive time line (the zone is unknown, so
/// only differences between two values are meaningful). Accepts `YYYY-MM-DD HH:MM:SS`
/// with an optional fraction, and `T` as the separator; `None` for anything else.
pub fn naive_seconds(ts: &str) -> Option<f64> {
    let b = ts.as_bytes();
    if b.len() < 19 || !ts.is_char_boundary(19) {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let s = ts.get(r)?;
        if s.bytes().all(|c| c.is_ascii_digit()) {
            s.parse().ok()
        } else {
            None
        }
    };
    if b[4] != b'-' || b[7] != b'-' || !(b[10] == b' ' || b[10] == b'T') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, s) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut frac = 0.0;
    if b.len() > 19 {
        let rest = &ts[19..];
        let digits = rest.strip_prefix('.')?;
        if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        frac = format!("0.{digits}").parse::<f64>().ok()?;
    }
    let days = days_from_civil(y, mo as u32, d as u32);
    Some((days * 86_400 + h * 3600 + mi * 60 + s) as f64 + frac)
}

/// How Python's `str(datetime)` shows a stored value: the fraction is left out when it
/// is zero. Values that are not in the stored form are shown as they are.
pub fn display(ts: &str) -> &str {
    ts.strip_suffix(".000000").unwrap_or(ts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_has_fixed_width_and_microseconds() {
        let s = local_naive(1_795_000_000.5);
        assert_eq!(s.len(), 26, "{s}");
        assert!(s.ends_with(".500000"), "{s}");
        let s = local_naive(1_795_000_000.0);
        assert!(s.ends_with(".000000"), "{s}");
        // rounding up to a whole second carries into the seconds
        let a = local_naive(1_795_000_000.9999999);
        let b = local_naive(1_795_000_001.0);
        assert_eq!(a, b);
    }

    #[test]
    fn civil_round_trip() {
        for days in [-800_000i64, -1, 0, 1, 11_016, 20_000, 2_932_896] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(utc_fields(1_795_000_000), (2026, 11, 18, 11, 6, 40));
    }

    #[test]
    fn naive_seconds_differences() {
        let a = naive_seconds("2026-11-24 08:00:00.250000").unwrap();
        let b = naive_seconds("2026-11-25 08:00:01").unwrap();
        assert!((b - a - 86_400.75).abs() < 1e-6);
        assert_eq!(
            naive_seconds("2026-11-24T08:00:00"),
            naive_seconds("2026-11-24 08:00:00")
        );
        for bad in [
            "",
            "2026-11-24",
            "2026-13-01 00:00:00",
            "2026-11-24 08:00:00.",
            "2026-11-24 08:00:00x",
            "２０２６-11-24 08:00:00",
        ] {
            assert_eq!(naive_seconds(bad), None, "{bad}");
        }
    }

    #[test]
    fn display_drops_zero_fraction_only() {
        assert_eq!(display("2026-11-24 08:00:00.000000"), "2026-11-24 08:00:00");
        assert_eq!(
            display("2026-11-24 08:00:00.000100"),
            "2026-11-24 08:00:00.000100"
        );
    }
}
