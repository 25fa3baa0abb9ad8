//! Small stand-ins for helpers the HTTP work item provides. Each is marked
//! `TODO(http)`: once `crate::http` has it, delete the stand-in and call that.

use crate::http::{HttpError, Request, Response};
use std::io::Write;

fn bad_request(message: impl Into<String>) -> HttpError {
    HttpError {
        status: 400,
        message: message.into(),
    }
}

// TODO(http): replace with http::percent_decode_path
/// Percent-decode a path capture (`+` stays `+`); invalid UTF-8 is a 400.
pub fn percent_decode_path(raw: &str) -> Result<String, HttpError> {
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| bad_request("invalid UTF-8 in the path"))
}

/// Form decoding of one name or value: `+` is a space, `%XX` a byte.
fn form_decode(raw: &[u8]) -> Vec<u8> {
    let plus: Vec<u8> = raw
        .iter()
        .map(|&b| if b == b'+' { b' ' } else { b })
        .collect();
    percent_encoding::percent_decode(&plus).collect()
}

/// All values of `name` in an `application/x-www-form-urlencoded` string, in order.
fn form_values(qs: &[u8], name: &str, out: &mut Vec<Vec<u8>>) {
    for pair in qs.split(|&b| b == b'&') {
        if pair.is_empty() {
            continue;
        }
        let (k, v) = match pair.iter().position(|&b| b == b'=') {
            Some(i) => (&pair[..i], &pair[i + 1..]),
            None => (pair, &b""[..]),
        };
        if form_decode(k) == name.as_bytes() {
            out.push(form_decode(v));
        }
    }
}

/// The `boundary=` parameter of a multipart Content-Type.
fn boundary(content_type: &str) -> Option<&str> {
    content_type.split(';').skip(1).find_map(|p| {
        let (k, v) = p.trim().split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"'))
    })
}

fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    if needle.is_empty() || from > hay.len() {
        return None;
    }
    hay[from..]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// Values of form fields (not files) called `name` in a multipart/form-data body.
fn multipart_values(body: &[u8], boundary: &str, name: &str, out: &mut Vec<Vec<u8>>) {
    let delim = format!("--{boundary}");
    let mut pos = match find(body, delim.as_bytes(), 0) {
        Some(p) => p + delim.len(),
        None => return,
    };
    loop {
        if body[pos..].starts_with(b"--") {
            return;
        }
        let Some(head_end) = find(body, b"\r\n\r\n", pos) else {
            return;
        };
        let head = String::from_utf8_lossy(&body[pos..head_end]);
        let data_start = head_end + 4;
        let Some(next) = find(body, format!("\r\n{delim}").as_bytes(), data_start) else {
            return;
        };
        let disposition = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition:"))
            .unwrap_or("");
        let mut field = None;
        let mut is_file = false;
        for p in disposition.split(';').skip(1) {
            if let Some((k, v)) = p.trim().split_once('=') {
                let v = v.trim().trim_matches('"');
                match k.trim() {
                    "name" => field = Some(v.to_string()),
                    "filename" => is_file = true,
                    _ => {}
                }
            }
        }
        if !is_file && field.as_deref() == Some(name) {
            out.push(body[data_start..next].to_vec());
        }
        pos = next + 2 + delim.len();
    }
}

// TODO(http): replace with http::get_argument
/// Tornado's `get_argument(name)`: query values first, then form/multipart body values;
/// the last one wins. Control characters other than \t\n\v\f\r become spaces and the
/// value is stripped. Invalid UTF-8 is a 400.
pub fn get_argument(req: &Request, name: &str) -> Result<Option<String>, HttpError> {
    let mut values = Vec::new();
    form_values(req.query.as_bytes(), name, &mut values);
    let ctype = req.header_str("content-type").unwrap_or("");
    let lower = ctype.to_ascii_lowercase();
    if lower.starts_with("application/x-www-form-urlencoded") {
        form_values(&req.body, name, &mut values);
    } else if lower.starts_with("multipart/form-data") {
        if let Some(b) = boundary(ctype) {
            multipart_values(&req.body, b, name, &mut values);
        }
    }
    let Some(last) = values.pop() else {
        return Ok(None);
    };
    let text =
        String::from_utf8(last).map_err(|_| bad_request(format!("invalid UTF-8 in {name}")))?;
    Ok(Some(super::clean_argument(&text)))
}

// TODO(http): replace with http::gzip_response
/// Tornado's gzip transform: `Vary: Accept-Encoding` on every reply; gzip (level 6)
/// compressible types of at least 1024 bytes when the client accepts gzip.
pub fn gzip_response(accept_encoding: Option<&str>, resp: &mut Response) {
    match resp
        .headers
        .iter_mut()
        .find(|(n, _)| n.eq_ignore_ascii_case("vary"))
    {
        Some((_, v)) if !v.to_ascii_lowercase().contains("accept-encoding") => {
            v.push_str(", Accept-Encoding")
        }
        Some(_) => {}
        None => resp
            .headers
            .push(("Vary".to_string(), "Accept-Encoding".to_string())),
    }
    if !accept_encoding.unwrap_or("").contains("gzip")
        || resp.body.len() < 1024
        || resp.head_only
        || resp.header("content-encoding").is_some()
    {
        return;
    }
    let ctype = resp
        .header("content-type")
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let compressible = ctype.starts_with("text/")
        || matches!(
            ctype.as_str(),
            "application/javascript"
                | "application/x-javascript"
                | "application/xml"
                | "application/atom+xml"
                | "application/json"
                | "application/xhtml+xml"
                | "image/svg+xml"
        );
    if !compressible {
        return;
    }
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    if enc.write_all(&resp.body).is_err() {
        return;
    }
    if let Ok(gz) = enc.finish() {
        resp.body = gz;
        resp.headers
            .push(("Content-Encoding".to_string(), "gzip".to_string()));
    }
}

const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Days since 1970-01-01 -> (year, month 1..=12, day 1..=31) (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

// TODO(http): replace with http::http_date
/// RFC 1123 date, e.g. `Tue, 24 Nov 2026 08:27:45 GMT`.
pub fn http_date(secs: u64) -> String {
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    let (y, m, d) = civil_from_days(days);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} GMT",
        DAYS[(days % 7) as usize],
        d,
        MONTHS[(m - 1) as usize],
        y,
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

// TODO(http): replace with http::parse_http_date
/// Parse an RFC 1123 date (`Sun, 06 Nov 1994 08:49:37 GMT`); other forms give None.
pub fn parse_http_date(s: &str) -> Option<u64> {
    let s = s.trim();
    let s = s.split_once(',').map(|(_, r)| r).unwrap_or(s);
    let mut it = s.split_whitespace();
    let d: u32 = it.next()?.parse().ok()?;
    let mon = it.next()?;
    let m = MONTHS.iter().position(|x| x.eq_ignore_ascii_case(mon))? as u32 + 1;
    let y: i64 = it.next()?.parse().ok()?;
    let mut hms = it.next()?.split(':');
    let h: u64 = hms.next()?.parse().ok()?;
    let mi: u64 = hms.next()?.parse().ok()?;
    let sec: u64 = hms.next()?.parse().ok()?;
    if !(1..=31).contains(&d) || h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let days = days_from_civil(y, m, d);
    if days < 0 {
        return None;
    }
    Some(days as u64 * 86400 + h * 3600 + mi * 60 + sec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(1795509999), "Tue, 24 Nov 2026 08:46:39 GMT");
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784111777)
        );
        for t in [0u64, 784111777, 1795509999, 4102444800] {
            assert_eq!(parse_http_date(&http_date(t)), Some(t));
        }
        assert_eq!(parse_http_date("garbage"), None);
    }

    #[test]
    fn form_and_multipart_arguments() {
        let req = Request {
            method: "POST".into(),
            query: "data=%7B%7D&x=1&data=a+b".into(),
            headers: vec![(
                "content-type".into(),
                b"multipart/form-data; boundary=XX".to_vec(),
            )],
            body: b"--XX\r\nContent-Disposition: form-data; name=\"data\"\r\n\r\n{\"a\": 1}\r\n--XX\r\nContent-Disposition: form-data; name=\"data\"; filename=\"f\"\r\n\r\nfile\r\n--XX--\r\n".to_vec(),
            ..Request::default()
        };
        assert_eq!(
            get_argument(&req, "data").unwrap().as_deref(),
            Some("{\"a\": 1}")
        );
        assert_eq!(get_argument(&req, "x").unwrap().as_deref(), Some("1"));
        assert_eq!(get_argument(&req, "nope").unwrap(), None);
    }
}
