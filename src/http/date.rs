//! HTTP dates (RFC 9110 5.6.7): IMF-fixdate out, the three historic forms in.

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Length of an IMF-fixdate such as `Tue, 24 Nov 2026 08:00:00 GMT`.
pub const HTTP_DATE_LEN: usize = 29;

/// Proleptic Gregorian (year, month 1-12, day 1-31) of a day count since 1970-01-01
/// (H. Hinnant's civil_from_days).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Days since 1970-01-01 of a proleptic Gregorian date (inverse of the above).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Write the IMF-fixdate of `unix_secs` into a fixed buffer (no allocation).
/// Years past 9999 are clamped to 9999-12-31 23:59:59, which no clock reaches.
pub fn write_http_date(unix_secs: u64, out: &mut [u8; HTTP_DATE_LEN]) {
    const MAX: u64 = 253_402_300_799; // 9999-12-31T23:59:59Z
    let secs = unix_secs.min(MAX);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    let (h, m, s) = (rem / 3600, rem % 3600 / 60, rem % 60);
    let two = |v: u64| [b'0' + (v / 10) as u8, b'0' + (v % 10) as u8];
    let y = year as u64;
    let mut i = 0;
    let mut put = |bytes: &[u8]| {
        out[i..i + bytes.len()].copy_from_slice(bytes);
        i += bytes.len();
    };
    put(DAYS[(days % 7) as usize].as_bytes());
    put(b", ");
    put(&two(u64::from(day)));
    put(b" ");
    put(MONTHS[(month - 1) as usize].as_bytes());
    put(b" ");
    put(&two(y / 100));
    put(&two(y % 100));
    put(b" ");
    put(&two(h));
    put(b":");
    put(&two(m));
    put(b":");
    put(&two(s));
    put(b" GMT");
}

/// `Tue, 24 Nov 2026 08:00:00 GMT` for the given Unix time.
pub fn http_date(unix_secs: u64) -> String {
    let mut buf = [0u8; HTTP_DATE_LEN];
    write_http_date(unix_secs, &mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

fn month_index(name: &str) -> Option<u32> {
    MONTHS
        .iter()
        .position(|m| m.eq_ignore_ascii_case(name))
        .map(|i| i as u32 + 1)
}

fn number(s: &str, min_len: usize, max_len: usize) -> Option<u32> {
    if s.len() < min_len || s.len() > max_len || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn hms(s: &str) -> Option<(u32, u32, u32)> {
    let mut it = s.split(':');
    let h = number(it.next()?, 2, 2)?;
    let m = number(it.next()?, 2, 2)?;
    let sec = number(it.next()?, 2, 2)?;
    if it.next().is_some() || h > 23 || m > 59 || sec > 60 {
        return None;
    }
    Some((h, m, sec.min(59)))
}

fn to_unix(year: i64, month: u32, day: u32, (h, m, s): (u32, u32, u32)) -> Option<u64> {
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let month_days = [
        31,
        if leap { 29 } else { 28 },
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ];
    if year < 1970 || day == 0 || day > *month_days.get(month.checked_sub(1)? as usize)? {
        return None;
    }
    let days = days_from_civil(year, month, day);
    u64::try_from(days * 86_400 + i64::from(h * 3600 + m * 60 + s)).ok()
}

/// Parse an HTTP date (for If-Modified-Since) in any of the three forms RFC 9110 says a
/// recipient must accept: IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), RFC 850
/// (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime (`Sun Nov  6 08:49:37 1994`).
/// The weekday name is not checked. `None` for anything else or dates before 1970.
pub fn parse_http_date(s: &str) -> Option<u64> {
    let s = s.trim();
    let fields: Vec<&str> = s.split_ascii_whitespace().collect();
    match fields.as_slice() {
        // IMF-fixdate
        [wd, day, mon, year, time, "GMT"] if wd.ends_with(',') => to_unix(
            i64::from(number(year, 4, 4)?),
            month_index(mon)?,
            number(day, 1, 2)?,
            hms(time)?,
        ),
        // RFC 850: two-digit years; RFC 9110 says to read 50+ years ahead as the past.
        [wd, date, time, "GMT"] if wd.ends_with(',') => {
            let mut parts = date.split('-');
            let day = number(parts.next()?, 1, 2)?;
            let mon = month_index(parts.next()?)?;
            let yy = i64::from(number(parts.next()?, 2, 2)?);
            if parts.next().is_some() {
                return None;
            }
            let year = if yy < 70 { 2000 + yy } else { 1900 + yy };
            to_unix(year, mon, day, hms(time)?)
        }
        // asctime
        [_wd, mon, day, time, year] => to_unix(
            i64::from(number(year, 4, 4)?),
            month_index(mon)?,
            number(day, 1, 2)?,
            hms(time)?,
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_dates() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(1_795_507_200), "Tue, 24 Nov 2026 08:00:00 GMT");
        assert_eq!(http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(http_date(u64::MAX), "Fri, 31 Dec 9999 23:59:59 GMT");
    }

    #[test]
    fn parses_three_forms() {
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(
            parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(
            parse_http_date("Sun Nov  6 08:49:37 1994"),
            Some(784_111_777)
        );
        assert_eq!(
            parse_http_date("Tue, 24 Nov 2026 08:00:00 GMT"),
            Some(1_795_507_200)
        );
    }

    #[test]
    fn rejects_bad_dates() {
        for bad in [
            "",
            "yesterday",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 31 Feb 1994 08:49:37 GMT",
            "Sun, 06 Foo 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1969 08:49:37 GMT",
            "Sun, 06 Nov 99999 08:49:37 GMT",
            "Sun, 06 Nov 1994 8:49:37 GMT",
        ] {
            assert_eq!(parse_http_date(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn round_trip_over_many_days() {
        // Every day boundary for ~140 years, plus odd seconds, survives format+parse.
        let mut t = 0u64;
        while t < 4_500_000_000 {
            assert_eq!(parse_http_date(&http_date(t)), Some(t), "{t}");
            t += 86_400 * 7 + 3_661;
        }
    }
}
