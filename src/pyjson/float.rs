//! Python's `repr(float)`, the one implementation: the JSON writer (`super::write`), the
//! scheduler's `str()` of parameters (`scheduler::pyfmt`, for display names and e-mails)
//! and the Prometheus exposition (`crate::metrics`) all write floats through it.
//!
//! CPython (`Objects/floatobject.c`, `float_repr`) writes the shortest digits that read
//! back as the same float, in positional form when the decimal exponent is in [-4, 16)
//! and as `d.ddde+XX` otherwise. Rust's `{:e}` gives the same shortest digits except for
//! an exact tie between two shortest candidates, where Rust rounds up and CPython takes
//! the even one (`1201363153809856.25` is `1201363153809856.2` in Python); that case is
//! detected and corrected here.

use std::io::{self, Write};

/// A fixed stack buffer for formatting one float without allocating.
struct StackBuf {
    buf: [u8; 40],
    len: usize,
}

impl std::fmt::Write for StackBuf {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        if end > self.buf.len() {
            return Err(std::fmt::Error);
        }
        self.buf[self.len..end].copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

/// Cheap necessary condition for `v` (> 0) to lie exactly halfway between two decimals of
/// `n` significant digits whose leading digit is at 10^`exp`: writing v = m * 2^q with m
/// odd and q < 0, its exact decimal expansion ends with a 5 at the 10^q place, so it has
/// (leading exponent - q + 1) significant digits, and a tie needs exactly n + 1. The
/// leading exponent is `exp` or, when the shortest digits rounded up a power of ten,
/// `exp - 1`. Integers (q >= 0) are left to the exact check. Almost every float fails
/// this test, which skips the costly exact expansion (a hot spot of task_list replies).
fn may_be_tie(v: f64, n: usize, exp: i32) -> bool {
    let bits = v.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let frac = bits & ((1u64 << 52) - 1);
    let (m, q) = if biased == 0 {
        (frac, -1074)
    } else {
        (frac | (1u64 << 52), biased - 1075)
    };
    if m == 0 {
        return false;
    }
    let q = q + m.trailing_zeros() as i32;
    if q >= 0 {
        return true;
    }
    let n = n as i32;
    q == exp - n || q == exp - 1 - n
}

/// Rust's shortest digits round an exact tie up (…856.25 -> "…856.3"); Python's repr
/// picks the even neighbour ("…856.2"). When the last digit is odd and its neighbour
/// also round-trips, check exactly whether `v` lies halfway, and if so take the even one.
fn round_half_even(digits: &mut [u8], exp: i32, v: f64) {
    let n = digits.len();
    let last = digits[n - 1];
    if (last - b'0').is_multiple_of(2) || !may_be_tie(v, n, exp) {
        return;
    }
    round_half_even_exact(digits, exp, v);
}

/// [`round_half_even`] without the cheap pre-check.
fn round_half_even_exact(digits: &mut [u8], exp: i32, v: f64) {
    let n = digits.len();
    let last = digits[n - 1];
    if (last - b'0').is_multiple_of(2) {
        return;
    }
    for cand in [last - 1, last + 1] {
        // A neighbour ending in 0 (or carrying) would be shorter: never both round-trip.
        if cand == b'0' || cand > b'9' {
            continue;
        }
        let mut sb = StackBuf {
            buf: [0; 40],
            len: 0,
        };
        let mut alt = [0u8; 24];
        alt[..n].copy_from_slice(digits);
        alt[n - 1] = cand;
        let mantissa = std::str::from_utf8(&alt[..n]).unwrap_or("0");
        let (head, tail) = mantissa.split_at(1);
        let ok = std::fmt::write(&mut sb, format_args!("{head}.{tail}0e{exp}")).is_ok();
        let parsed = std::str::from_utf8(&sb.buf[..sb.len])
            .ok()
            .and_then(|s| s.parse::<f64>().ok());
        if !ok || parsed != Some(v) {
            continue;
        }
        // Exact expansion: a tie is (lower n digits) followed by 5 and zeros only.
        let exact = format!("{:.*e}", n + 40, v);
        let exact_digits: Vec<u8> = exact
            .bytes()
            .take_while(|&c| c != b'e')
            .filter(|c| c.is_ascii_digit())
            .collect();
        let lower = if cand < last { &alt[..n] } else { &*digits };
        let tie = exact_digits.len() > n
            && &exact_digits[..n] == lower
            && exact_digits[n] == b'5'
            && exact_digits[n + 1..].iter().all(|&c| c == b'0');
        if tie {
            digits[n - 1] = cand;
        }
        return;
    }
}

/// `repr(v)` as `json.dumps` writes it: the non-finite values as `NaN`, `Infinity`,
/// `-Infinity`.
pub fn write_json<W: ?Sized + Write>(w: &mut W, v: f64) -> io::Result<()> {
    match v {
        _ if v.is_nan() => w.write_all(b"NaN"),
        f64::INFINITY => w.write_all(b"Infinity"),
        f64::NEG_INFINITY => w.write_all(b"-Infinity"),
        _ => write_finite(w, v),
    }
}

/// Python's `repr(v)`, the non-finite values as `nan`, `inf`, `-inf`.
pub fn write_repr<W: ?Sized + Write>(w: &mut W, v: f64) -> io::Result<()> {
    match v {
        _ if v.is_nan() => w.write_all(b"nan"),
        f64::INFINITY => w.write_all(b"inf"),
        f64::NEG_INFINITY => w.write_all(b"-inf"),
        _ => write_finite(w, v),
    }
}

/// Python's `repr(v)` as a string.
pub fn repr(v: f64) -> String {
    let mut out = Vec::with_capacity(24);
    // Writing into a Vec cannot fail, and the text is ASCII.
    let _ = write_repr(&mut out, v);
    String::from_utf8(out).unwrap_or_default()
}

/// The finite case of `repr`: the shortest digits that round-trip, positional when the
/// decimal exponent is in [-4, 16), else `d.ddde+XX` with at least two exponent digits.
fn write_finite<W: ?Sized + Write>(w: &mut W, v: f64) -> io::Result<()> {
    // Whole numbers below 1e16 (timestamps, counts) are their integer digits plus ".0" in
    // Python's repr; skip the general shortest-digits path. -0.0 takes the general path.
    if v.fract() == 0.0 && v.abs() < 1e16 && (v != 0.0 || v.is_sign_positive()) {
        let mut sb = StackBuf {
            buf: [0; 40],
            len: 0,
        };
        if std::fmt::write(&mut sb, format_args!("{}.0", v as i64)).is_ok() {
            return w.write_all(&sb.buf[..sb.len]);
        }
    }
    let mut sb = StackBuf {
        buf: [0; 40],
        len: 0,
    };
    // Rust's `{:e}` gives the shortest round-trip digits, e.g. "-1.2345e-7".
    if std::fmt::write(&mut sb, format_args!("{:e}", v)).is_err() {
        return write!(w, "{v:?}");
    }
    let s = &sb.buf[..sb.len];
    let (neg, s) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    let epos = s.iter().position(|&c| c == b'e').unwrap_or(s.len());
    let exp: i32 = std::str::from_utf8(s.get(epos + 1..).unwrap_or(b"0"))
        .ok()
        .and_then(|e| e.parse().ok())
        .unwrap_or(0);
    let mut digits = [0u8; 24];
    let mut n = 0;
    for &c in &s[..epos] {
        if c != b'.' && n < digits.len() {
            digits[n] = c;
            n += 1;
        }
    }
    if n > 0 {
        round_half_even(&mut digits[..n], exp, v.abs());
    }
    let digits = &digits[..n];
    if neg {
        w.write_all(b"-")?;
    }
    let decpt = exp + 1;
    if !(-4 < decpt && decpt <= 16) {
        w.write_all(&digits[..1])?;
        if n > 1 {
            w.write_all(b".")?;
            w.write_all(&digits[1..])?;
        }
        let sign = if exp < 0 { '-' } else { '+' };
        write!(w, "e{}{:02}", sign, exp.unsigned_abs())
    } else if decpt <= 0 {
        w.write_all(b"0.")?;
        for _ in 0..-decpt {
            w.write_all(b"0")?;
        }
        w.write_all(digits)
    } else {
        let d = decpt as usize;
        if d >= n {
            w.write_all(digits)?;
            for _ in n..d {
                w.write_all(b"0")?;
            }
            w.write_all(b".0")
        } else {
            w.write_all(&digits[..d])?;
            w.write_all(b".")?;
            w.write_all(&digits[d..])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn float(f: f64) -> String {
        let mut out = Vec::new();
        write_json(&mut out, f).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn floats_match_python_repr() {
        // Expectations from python3: repr(float(x)).
        let cases: &[(f64, &str)] = &[
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (-1.5, "-1.5"),
            (0.1, "0.1"),
            (1e16, "1e+16"),
            (1.5e16, "1.5e+16"),
            (1e15, "1000000000000000.0"),
            (1234567890123456.0, "1234567890123456.0"),
            (9999999999999998.0, "9999999999999998.0"),
            (1e-5, "1e-05"),
            (1.5e-5, "1.5e-05"),
            (0.0001, "0.0001"),
            (0.00012345, "0.00012345"),
            (1795504285.4864116, "1795504285.4864116"),
            (1e100, "1e+100"),
            (1e-100, "1e-100"),
            (f64::MAX, "1.7976931348623157e+308"),
            (f64::MIN, "-1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (123.456, "123.456"),
            (100.0, "100.0"),
            (2.5e-7, "2.5e-07"),
            // Exact ties between two shortest candidates: Python takes the even one.
            (4805452615239425.0 / 4.0, "1201363153809856.2"),
            (449724435880749.0 / 16.0, "28107777242546.812"),
            (7107400303061325.0 / 4.0, "1776850075765331.2"),
            (f64::NAN, "NaN"),
            (f64::INFINITY, "Infinity"),
            (f64::NEG_INFINITY, "-Infinity"),
        ];
        for (f, want) in cases {
            assert_eq!(float(*f), *want, "repr of {f:?}");
        }
    }

    /// The shortest digits and exponent of `v` (> 0), as `write_finite` gets them.
    fn shortest(v: f64) -> (Vec<u8>, i32) {
        let s = format!("{v:e}");
        let (m, e) = s.split_once('e').unwrap();
        (
            m.bytes().filter(u8::is_ascii_digit).collect(),
            e.parse().unwrap(),
        )
    }

    #[test]
    fn tie_precheck_never_skips_a_tie() {
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut samples: Vec<f64> = Vec::new();
        for _ in 0..200_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            // Random bit patterns, timestamps, and values with few mantissa bits (ties).
            samples.push(f64::from_bits(x >> 1));
            samples.push(1.7e9 + (x % 100_000_000) as f64 / 65536.0);
            samples.push((x % (1 << 54)) as f64 / f64::from(1u32 << (x % 30)));
        }
        samples.extend([4805452615239425.0 / 4.0, 449724435880749.0 / 16.0]);
        let mut ties = 0;
        for v in samples {
            if !v.is_finite() || v <= 0.0 {
                continue;
            }
            let (d, exp) = shortest(v);
            let (mut fast, mut exact) = (d.clone(), d.clone());
            round_half_even(&mut fast, exp, v);
            round_half_even_exact(&mut exact, exp, v);
            assert_eq!(fast, exact, "{v:e}");
            ties += usize::from(exact != d);
        }
        assert!(ties >= 2, "the samples hold ties ({ties})");
    }

    #[test]
    fn whole_floats_match_python_repr() {
        for (f, want) in [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1000.0, "1000.0"),
            (-7.0, "-7.0"),
            (1_763_978_400.0, "1763978400.0"),
            (9_999_999_999_999_998.0, "9999999999999998.0"),
            (1e16, "1e+16"),
            (-1e16, "-1e+16"),
            (1e22, "1e+22"),
        ] {
            assert_eq!(float(f), want, "{f}");
        }
    }

    /// Values whose text is easy to get wrong, each with CPython 3.11's `repr`.
    #[test]
    fn repr_matches_cpython_on_tricky_values() {
        let cases: &[(f64, &str)] = &[
            (0.1, "0.1"),
            (1e16, "1e+16"),
            (1e-5, "1e-05"),
            (2.5e-5, "2.5e-05"),
            (5e-324, "5e-324"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (0.30000000000000004, "0.30000000000000004"),
            (1e22, "1e+22"),
            (1e23, "1e+23"),
            (123456789012345680.0, "1.2345678901234568e+17"),
            (2.2250738585072014e-308, "2.2250738585072014e-308"),
            (9007199254740993.0, "9007199254740992.0"),
            (9.223372036854776e18, "9.223372036854776e+18"),
            // Ties between two shortest candidates (Rust's `{:e}` ends these in an odd
            // digit).
            (1059438285926254.2, "1059438285926254.2"),
            (1.0000076293945312, "1.0000076293945312"),
            (2.9802322387695312e-08, "2.9802322387695312e-08"),
            (-0.0, "-0.0"),
            (f64::NAN, "nan"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
        ];
        for &(v, want) in cases {
            assert_eq!(repr(v), want, "repr of {v:e}");
        }
        assert_eq!(float(f64::NAN), "NaN");
        assert_eq!(float(f64::NEG_INFINITY), "-Infinity");
    }
}
