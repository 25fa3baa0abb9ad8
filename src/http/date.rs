//! HTTP dates (RFC 9110 5.6.7) through the `httpdate` crate: IMF-fixdate out (Date,
//! Last-Modified, Expires), the three forms RFC 9110 names in (If-Modified-Since).
//!
//! httpdate reads more strictly than Tornado does (Python's
//! `email.utils.parsedate_to_datetime`): a weekday that does not match the date, a leap
//! second or another layout is not a date here. RFC 9110 says to ignore such an
//! If-Modified-Since, so the full file is sent where luigid might answer 304; browsers send
//! back the Last-Modified they were given, which always reads.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Length of an IMF-fixdate such as `Tue, 24 Nov 2026 08:00:00 GMT`.
pub const HTTP_DATE_LEN: usize = 29;

/// 9999-12-31T23:59:59Z: later times are written as this one (an HTTP date has four
/// year digits), which no clock reaches.
const LAST_SECOND: u64 = 253_402_300_799;

fn system_time(unix_secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(unix_secs.min(LAST_SECOND))
}

/// Write the IMF-fixdate of `unix_secs` into a fixed buffer (no allocation).
pub fn write_http_date(unix_secs: u64, out: &mut [u8; HTTP_DATE_LEN]) {
    use std::io::Write;
    let date = httpdate::HttpDate::from(system_time(unix_secs));
    // Every date up to LAST_SECOND is exactly HTTP_DATE_LEN bytes long.
    let _ = write!(&mut out[..], "{date}");
}

/// `Tue, 24 Nov 2026 08:00:00 GMT` for the given Unix time.
pub fn http_date(unix_secs: u64) -> String {
    httpdate::fmt_http_date(system_time(unix_secs))
}

/// Parse an HTTP date (for If-Modified-Since) in any of the three forms RFC 9110 says a
/// recipient must accept: IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), RFC 850
/// (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime (`Sun Nov  6 08:49:37 1994`).
/// `None` for anything else and for dates before 1970.
pub fn parse_http_date(s: &str) -> Option<u64> {
    let t = httpdate::parse_http_date(s).ok()?;
    t.duration_since(UNIX_EPOCH).ok().map(|d| d.as_secs())
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
        let mut buf = [0u8; HTTP_DATE_LEN];
        write_http_date(u64::MAX, &mut buf);
        assert_eq!(&buf, b"Fri, 31 Dec 9999 23:59:59 GMT");
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
            parse_http_date(" Tue, 24 Nov 2026 08:00:00 GMT "),
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
            "Mon, 06 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT\u{e9}",
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
