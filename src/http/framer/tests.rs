use super::body::*;
use super::*;

#[test]
fn header_names_are_lower_cased_whether_borrowed_or_not() {
    for name in [
        "Host",
        "ACCEPT",
        "Origin",
        "Cookie",
        "Expect",
        "Referer",
        "User-Agent",
        "Connection",
        "Content-Type",
        "Authorization",
        "Content-Length",
        "Accept-Encoding",
        "Accept-Language",
        "X-Requested-With",
        "Transfer-Encoding",
        "X-Luigid-Rs-Request",
    ] {
        let lower = lower_name(name);
        assert!(matches!(lower, Cow::Borrowed(_)), "{name}");
        assert_eq!(lower, name.to_ascii_lowercase());
    }
    for name in ["X-Custom", "Hos", "Accept-Charset", "origins"] {
        let lower = lower_name(name);
        assert!(matches!(lower, Cow::Owned(_)), "{name}");
        assert_eq!(lower, name.to_ascii_lowercase());
    }
    assert_eq!(crate::auth::CSRF_HEADER, lower_name("X-LUIGID-RS-REQUEST"));
    // Every header-name character in every place of every known name: borrowed
    // exactly when it names the same header, and always the lower-cased name.
    let tchars: Vec<u8> = (0x21..0x7fu8)
        .filter(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(b))
        .collect();
    for known in [
        "host",
        "content-type",
        "x-requested-with",
        "accept-language",
    ] {
        for at in 0..known.len() {
            for &c in &tchars {
                let mut name = known.as_bytes().to_vec();
                name[at] = c;
                let name = String::from_utf8(name).unwrap();
                let lower = lower_name(&name);
                assert_eq!(lower, name.to_ascii_lowercase(), "{name}");
                let same = name.eq_ignore_ascii_case(known);
                assert_eq!(matches!(lower, Cow::Borrowed(_)), same, "{name}");
            }
        }
    }
}

/// What a connection saw: requests in order, then maybe the error that closed it,
/// and how many 100 Continue were asked for.
#[derive(Debug, Default)]
struct Outcome {
    requests: Vec<Request>,
    error: Option<HttpError>,
    continues: usize,
    leftover: usize,
}

/// Feed `input` in the given pieces the way the server does: append, then take
/// frames until the framer needs more, dropping each request's `consumed` bytes.
fn run(limits: &Limits, pieces: &[&[u8]]) -> Outcome {
    let mut framer = Framer::new(limits.clone());
    let mut buf = Vec::new();
    let mut out = Outcome::default();
    for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            match framer.next_frame(&buf) {
                Ok(None) => break,
                Ok(Some(Frame::Continue)) => out.continues += 1,
                Ok(Some(Frame::Request { request, consumed })) => {
                    assert!(consumed > 0 && consumed <= buf.len());
                    buf.drain(..consumed);
                    out.requests.push(request);
                }
                Err(e) => {
                    out.error = Some(e);
                    return out;
                }
            }
        }
    }
    out.leftover = buf.len();
    out
}

fn whole(input: &[u8]) -> Outcome {
    run(&Limits::default(), &[input])
}

fn status(input: &[u8]) -> Option<u16> {
    whole(input).error.map(|e| e.status)
}

fn summary(o: &Outcome) -> Vec<(String, String, String, u8, Vec<u8>)> {
    o.requests
        .iter()
        .map(|r| {
            (
                r.method.clone(),
                r.path.clone(),
                r.query.clone(),
                r.minor_version,
                r.body.clone(),
            )
        })
        .collect()
}

/// The same requests come out however the input is split in two, and when fed one
/// byte at a time.
fn assert_split_invariant(input: &[u8]) -> Outcome {
    let limits = Limits::default();
    let reference = run(&limits, &[input]);
    assert!(reference.error.is_none(), "{:?}", reference.error);
    for k in 0..=input.len() {
        let o = run(&limits, &[&input[..k], &input[k..]]);
        assert_eq!(summary(&o), summary(&reference), "split at {k}");
        assert!(o.error.is_none(), "split at {k}: {:?}", o.error);
        assert_eq!(o.leftover, reference.leftover, "split at {k}");
    }
    let bytes: Vec<&[u8]> = input.chunks(1).collect();
    let o = run(&limits, &bytes);
    assert_eq!(summary(&o), summary(&reference), "byte by byte");
    reference
}

/// Requests parsed into recycled buffers are the same as freshly made ones: every
/// field is set anew, whatever the previous request left in them.
#[test]
fn recycled_buffers_give_the_same_requests() {
    let many_headers: &[u8] =
        b"GET /a?b=c HTTP/1.0\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\nX-Custom-Name: v\r\nE:\r\n\r\n";
    let big_body = format!(
        "POST /api/add_task HTTP/1.1\r\nContent-Length: 70000\r\n\r\n{}",
        "x".repeat(70_000)
    );
    let mut input = Vec::new();
    for part in [
        POST,
        GET,
        many_headers,
        CHUNKED,
        b"HEAD / HTTP/1.1\r\n\r\n",
        big_body.as_bytes(),
        POST,
        many_headers,
        GET,
    ] {
        input.extend_from_slice(part);
    }
    let fresh = whole(&input);
    assert!(fresh.error.is_none(), "{:?}", fresh.error);
    assert_eq!(fresh.requests.len(), 9);
    let mut framer = Framer::new(Limits::default());
    let mut buf = &input[..];
    let mut recycled = Vec::new();
    while let Ok(Some(Frame::Request { request, consumed })) = framer.next_frame(buf) {
        buf = &buf[consumed..];
        recycled.push(request.clone());
        framer.recycle(request);
    }
    assert!(buf.is_empty());
    assert_eq!(format!("{recycled:?}"), format!("{:?}", fresh.requests));
    // The 70 kB body was not kept for reuse.
    assert!(framer
        .spare
        .as_ref()
        .is_none_or(|p| p.request.body.capacity() < 70_000));
}

const GET: &[u8] =
    b"GET /api/ping?data=%7B%7D&x=1 HTTP/1.1\r\nHost: localhost\r\nX-Thing:  a b \r\n\r\n";
const POST: &[u8] = b"POST /api/add_task HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 11\r\n\r\ndata=%7B%7D";
const CHUNKED: &[u8] = b"POST /up HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5;name=val\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n";

#[test]
fn simple_get_fields() {
    let o = whole(GET);
    assert_eq!(o.requests.len(), 1);
    let r = &o.requests[0];
    assert_eq!(r.method, "GET");
    assert_eq!(r.path, "/api/ping");
    assert_eq!(r.query, "data=%7B%7D&x=1");
    assert_eq!(r.minor_version, 1);
    assert_eq!(r.header("host"), Some(&b"localhost"[..]));
    assert_eq!(r.header_str("x-thing"), Some("a b"));
    assert!(r.body.is_empty());
    assert_eq!(o.leftover, 0);
}

#[test]
fn consumed_is_exact_and_framer_idle_after() {
    let mut f = Framer::new(Limits::default());
    let mut buf = GET.to_vec();
    buf.extend_from_slice(b"GE");
    match f.next_frame(&buf) {
        Ok(Some(Frame::Request { consumed, .. })) => assert_eq!(consumed, GET.len()),
        other => panic!("{other:?}"),
    }
    assert!(f.is_idle());
    assert!(matches!(f.next_frame(&buf[GET.len()..]), Ok(None)));
    assert!(!f.is_idle());
}

#[test]
fn get_every_split() {
    assert_split_invariant(GET);
}

#[test]
fn content_length_body_every_split() {
    let o = assert_split_invariant(POST);
    assert_eq!(o.requests[0].body, b"data=%7B%7D");
}

#[test]
fn chunked_every_split() {
    let o = assert_split_invariant(CHUNKED);
    assert_eq!(o.requests[0].body, b"hello world");
    assert_eq!(o.leftover, 0);
}

#[test]
fn pipelined_every_split() {
    let mut input = Vec::new();
    for part in [GET, POST, CHUNKED, GET] {
        input.extend_from_slice(part);
    }
    input.extend_from_slice(b"GET /partial HTTP/1.1\r\n");
    let o = assert_split_invariant(&input);
    let paths: Vec<&str> = o.requests.iter().map(|r| r.path.as_str()).collect();
    assert_eq!(paths, ["/api/ping", "/api/add_task", "/up", "/api/ping"]);
    assert_eq!(o.leftover, b"GET /partial HTTP/1.1\r\n".len());
}

#[test]
fn bare_lf_and_leading_empty_lines() {
    let input = b"\r\n\nGET /a HTTP/1.1\nHost: x\n\nPOST /b HTTP/1.1\nTransfer-Encoding: chunked\n\n3\nabc\n0\n\n";
    let o = assert_split_invariant(input);
    assert_eq!(o.requests.len(), 2);
    assert_eq!(o.requests[0].header_str("host"), Some("x"));
    assert_eq!(o.requests[1].body, b"abc");
}

#[test]
fn http10_request() {
    let o = whole(b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(o.requests[0].minor_version, 0);
    assert!(!super::super::keep_alive(&o.requests[0]));
}

#[test]
fn no_length_means_empty_body() {
    let o = whole(b"POST /x HTTP/1.1\r\n\r\nGET /y HTTP/1.1\r\n\r\n");
    assert_eq!(o.requests.len(), 2);
    assert!(o.requests[0].body.is_empty());
}

#[test]
fn utf8_path_kept_invalid_path_refused() {
    let o = whole("GET /h\u{e9}llo HTTP/1.1\r\n\r\n".as_bytes());
    assert_eq!(o.requests[0].path, "/h\u{e9}llo");
    assert_eq!(status(b"GET /h\xe9llo HTTP/1.1\r\n\r\n"), Some(400));
    assert_eq!(status(b"GET /a b HTTP/1.1\r\n\r\n"), Some(400));
}

#[test]
fn header_values_keep_obs_text() {
    let o = whole(b"GET / HTTP/1.1\r\nX-Name: caf\xe9\r\n\r\n");
    assert_eq!(o.requests[0].header("x-name"), Some(&b"caf\xe9"[..]));
}

#[test]
fn malformed_heads_are_400() {
    for bad in [
        &b"GET\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n",
        b"GET / HTTP/1.1\r\n: empty\r\n\r\n",
        b"GET / HTTP/1.1\r\nNoColon\r\n\r\n",
        b"GET / HTTP/1.1\r\nX: a\rb\r\n\r\n",
        b"GET / HTTX/1.1\r\n\r\n",
        b"GET / HTTP/1.x\r\n\r\n",
        b"\r\rGET / HTTP/1.1\r\n\r\n",
    ] {
        assert_eq!(status(bad), Some(400), "{:?}", String::from_utf8_lossy(bad));
    }
}

#[test]
fn garbage_refused_at_first_line_not_after_64k() {
    // A TLS ClientHello-like start: refused as soon as a line ends, without a head end.
    let o = run(&Limits::default(), &[b"\x16\x03\x01\x02\x00 hello\n"]);
    assert_eq!(o.error.map(|e| e.status), Some(400));
    let o = run(&Limits::default(), &[b"GET / HTTP/1.1\r\n"]);
    assert!(o.error.is_none());
}

#[test]
fn newer_versions_are_505() {
    assert_eq!(status(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), Some(505));
    // The preface alone, before the end of a head, is already refused.
    assert_eq!(
        run(&Limits::default(), &[b"PRI * HTTP/2.0\r\n"])
            .error
            .map(|e| e.status),
        Some(505)
    );
    assert_eq!(status(b"GET / HTTP/1.2\r\n\r\n"), Some(505));
    assert_eq!(status(b"GET / HTTP/3\r\n\r\n"), Some(505));
    assert_eq!(status(b"GET / HTTP/0.9\r\n\r\n"), Some(400));
}

#[test]
fn head_too_large_is_431() {
    let limits = Limits {
        max_head_bytes: 100,
        ..Limits::default()
    };
    // Without an end in sight: refused once the buffer passes the limit.
    let long = format!("GET / HTTP/1.1\r\nX: {}", "a".repeat(200));
    let o = run(&limits, &[long.as_bytes()]);
    assert_eq!(o.error.map(|e| e.status), Some(431));
    // With the end present but too far.
    let long = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(90));
    assert_eq!(
        run(&limits, &[long.as_bytes()]).error.map(|e| e.status),
        Some(431)
    );
    // Exactly at the limit is fine.
    let head = b"GET / HTTP/1.1\r\n\r\n";
    let exact = Limits {
        max_head_bytes: head.len(),
        ..Limits::default()
    };
    assert_eq!(run(&exact, &[head]).requests.len(), 1);
    // A long request line alone (no newline yet) is refused too.
    let line = format!("GET /{} HTTP/1.1", "a".repeat(200));
    assert_eq!(
        run(&limits, &[line.as_bytes()]).error.map(|e| e.status),
        Some(431)
    );
    // And so is an endless run of empty lines.
    let empties = "\r\n".repeat(100);
    assert_eq!(
        run(&limits, &[empties.as_bytes()]).error.map(|e| e.status),
        Some(431)
    );
}

/// Errors, too, must not depend on how the bytes were split (a fuzzer finding: an
/// over-long first line used to be 431 when split and 400 when whole).
#[test]
fn verdicts_do_not_depend_on_splitting() {
    let small = Limits {
        max_head_bytes: 40,
        max_body_bytes: 8,
        max_headers: 2,
    };
    let long_bad_line = format!("GET /{} HTTP/1.x\r\n\r\n", "a".repeat(60));
    let inputs: [&[u8]; 8] = [
        long_bad_line.as_bytes(),
        b"GET / HTTP/1.1\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n",
        b"POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\n123456789",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n12345\r\n4\r\n",
        b"GET / HTTP/1.1\r\n\r\nPRI * HTTP/2.0\r\n\r\n",
        b"GET / HTTP/1.1\r\n\r\nGET /x HTTP/1.1\r\nBad Name: 1\r\n\r\n",
        b"\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n",
        b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nLong-Trailer: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n",
    ];
    for input in inputs {
        let whole = run(&small, &[input]);
        assert!(
            whole.error.is_some(),
            "{:?}",
            String::from_utf8_lossy(input)
        );
        for k in 0..=input.len() {
            let split = run(&small, &[&input[..k], &input[k..]]);
            assert_eq!(summary(&split), summary(&whole), "split at {k}");
            assert_eq!(split.error, whole.error, "split at {k}");
        }
    }
    assert_eq!(
        run(&small, &[long_bad_line.as_bytes()])
            .error
            .map(|e| e.status),
        Some(431)
    );
}

#[test]
fn too_many_headers_is_431() {
    let mut head = String::from("GET / HTTP/1.1\r\n");
    for i in 0..5 {
        head.push_str(&format!("X-{i}: v\r\n"));
    }
    head.push_str("\r\n");
    let limits = |n| Limits {
        max_headers: n,
        ..Limits::default()
    };
    assert_eq!(
        run(&limits(4), &[head.as_bytes()]).error.map(|e| e.status),
        Some(431)
    );
    assert_eq!(run(&limits(5), &[head.as_bytes()]).requests.len(), 1);
    // Limits above the stack array use a heap array.
    let mut many = String::from("GET / HTTP/1.1\r\n");
    for i in 0..150 {
        many.push_str(&format!("X-{i}: v\r\n"));
    }
    many.push_str("\r\n");
    let o = run(&limits(200), &[many.as_bytes()]);
    assert_eq!(o.requests[0].headers.len(), 150);
    assert_eq!(
        run(&limits(149), &[many.as_bytes()])
            .error
            .map(|e| e.status),
        Some(431)
    );
}

#[test]
fn body_over_limit_is_413_from_the_head_alone() {
    let limits = Limits {
        max_body_bytes: 10,
        ..Limits::default()
    };
    // No body bytes sent: the decision comes from Content-Length.
    let o = run(&limits, &[b"POST / HTTP/1.1\r\nContent-Length: 11\r\n\r\n"]);
    assert_eq!(o.error.map(|e| e.status), Some(413));
    let o = run(
        &limits,
        &[b"POST / HTTP/1.1\r\nContent-Length: 10\r\n\r\n0123456789"],
    );
    assert_eq!(o.requests[0].body, b"0123456789");
    assert_eq!(
        status(b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999999\r\n\r\n"),
        Some(413)
    );
}

#[test]
fn chunked_over_limit_is_413() {
    let limits = Limits {
        max_body_bytes: 10,
        ..Limits::default()
    };
    let ok = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n01234\r\n5\r\n56789\r\n0\r\n\r\n";
    assert_eq!(run(&limits, &[ok]).requests[0].body, b"0123456789");
    let over = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n01234\r\n6\r\n";
    assert_eq!(run(&limits, &[over]).error.map(|e| e.status), Some(413));
    let huge = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffff\r\n";
    assert_eq!(run(&limits, &[huge]).error.map(|e| e.status), Some(413));
}

#[test]
fn content_length_validation() {
    let req = |cl: &str| format!("POST / HTTP/1.1\r\n{cl}\r\n\r\nabcde");
    for bad in [
        "Content-Length: abc",
        "Content-Length: -1",
        "Content-Length: +5",
        "Content-Length: 5 5",
        "Content-Length: 0x5",
        "Content-Length: 5\r\nContent-Length: 6",
        "Content-Length: 5, 6",
        "Content-Length: 5,",
    ] {
        assert_eq!(status(req(bad).as_bytes()), Some(400), "{bad}");
    }
    for good in [
        "Content-Length: 5",
        "Content-Length: 5\r\nContent-Length: 5",
        "Content-Length: 5, 5",
        "Content-Length: 005",
        "content-length:5",
    ] {
        let o = whole(req(good).as_bytes());
        assert_eq!(o.requests[0].body, b"abcde", "{good}");
    }
    let o = whole(b"POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    assert!(o.requests[0].body.is_empty());
}

#[test]
fn smuggling_framing_refused() {
    // Both framings: 400, whatever their order.
    assert_eq!(
        status(
            b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
        ),
        Some(400)
    );
    assert_eq!(
        status(
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n"
        ),
        Some(400)
    );
    // Chunked twice, or not last, or obfuscated.
    assert_eq!(
        status(
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n"
        ),
        Some(400)
    );
    assert_eq!(
        status(b"POST / HTTP/1.1\r\nTransfer-Encoding: ,\r\n\r\n"),
        Some(400)
    );
    assert_eq!(
        status(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
        Some(501)
    );
    assert_eq!(
        status(b"POST / HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n"),
        Some(501)
    );
    assert_eq!(
        status(b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"),
        Some(501)
    );
    assert_eq!(
        status(b"POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n"),
        Some(501)
    );
    // HTTP/1.0 has no chunked coding.
    assert_eq!(
        status(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"),
        Some(400)
    );
    // Case and list syntax are fine.
    let o = whole(b"POST / HTTP/1.1\r\nTransfer-Encoding: , CHUNKED\r\n\r\n1\r\nz\r\n0\r\n\r\n");
    assert_eq!(o.requests[0].body, b"z");
}

#[test]
fn bad_chunks_are_400() {
    let head = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
    for bad in [
        "zz\r\n",
        "\r\n",
        "-1\r\n",
        "5 5\r\n",
        "1\r\nab\r\n",
        "1\r\naXY",
        "ffffffffffffffffffffffff\r\n",
        "1;a\x01b\r\n",
        "0\r\nbad trailer\r\n\r\n",
        "0\r\n: v\r\n\r\n",
    ] {
        let input = format!("{head}{bad}");
        assert_eq!(status(input.as_bytes()), Some(400), "{bad:?}");
    }
    let long_line = format!("{head}1;{}", "e".repeat(MAX_CHUNK_LINE + 1));
    assert_eq!(status(long_line.as_bytes()), Some(400));
    // Extensions with BWS, quoted values and leading zeros are accepted.
    let ok = format!("{head}0003 ; a=\"b c\"; d\r\nabc\r\n000\r\n\r\n");
    assert_eq!(whole(ok.as_bytes()).requests[0].body, b"abc");
}

#[test]
fn trailers_bounded_by_head_limit() {
    let limits = Limits {
        max_head_bytes: 64,
        ..Limits::default()
    };
    let input = format!(
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: {}",
        "a".repeat(80)
    );
    assert_eq!(
        run(&limits, &[input.as_bytes()]).error.map(|e| e.status),
        Some(431)
    );
    let input = format!(
        "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: {}\r\n\r\n",
        "a".repeat(80)
    );
    assert_eq!(
        run(&limits, &[input.as_bytes()]).error.map(|e| e.status),
        Some(431)
    );
}

#[test]
fn expect_continue_once_before_body() {
    let head: &[u8] = b"POST /api/x HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 3\r\n\r\n";
    let o = run(&Limits::default(), &[head, b"a", b"bc"]);
    assert_eq!(o.continues, 1);
    assert_eq!(o.requests[0].body, b"abc");
    // A framer asked again right after Continue says "need more", not Continue again.
    let mut f = Framer::new(Limits::default());
    assert!(matches!(f.next_frame(head), Ok(Some(Frame::Continue))));
    assert!(matches!(f.next_frame(head), Ok(None)));
    // Body already there: no Continue.
    let mut full = head.to_vec();
    full.extend_from_slice(b"abc");
    assert_eq!(whole(&full).continues, 0);
    // Part of the body there: the client did not wait, no Continue.
    assert_eq!(
        run(&Limits::default(), &[&full[..head.len() + 1], b"bc"]).continues,
        0
    );
    // HTTP/1.0, an empty body, or another expectation: no Continue.
    assert_eq!(
        run(
            &Limits::default(),
            &[b"POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"]
        )
        .continues,
        0
    );
    assert_eq!(
        whole(b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 0\r\n\r\n").continues,
        0
    );
    assert_eq!(
        run(
            &Limits::default(),
            &[b"POST / HTTP/1.1\r\nExpect: other\r\nContent-Length: 3\r\n\r\n"]
        )
        .continues,
        0
    );
    // Chunked bodies get it too, and each pipelined request gets its own.
    let chunked: &[u8] =
        b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n";
    let o = run(
        &Limits::default(),
        &[chunked, b"1\r\nq\r\n0\r\n\r\n", head, b"xyz"],
    );
    assert_eq!(o.continues, 2);
    assert_eq!(o.requests.len(), 2);
}

#[test]
fn expect_continue_with_too_large_body_is_413_not_continue() {
    let limits = Limits {
        max_body_bytes: 2,
        ..Limits::default()
    };
    let o = run(
        &limits,
        &[b"POST / HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n"],
    );
    assert_eq!(o.continues, 0);
    assert_eq!(o.error.map(|e| e.status), Some(413));
}

#[test]
fn large_inputs_in_small_pieces_stay_linear() {
    // Quadratic re-scanning would take minutes here; linear work takes milliseconds.
    let mut input = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    let chunk = format!("400\r\n{}\r\n", "x".repeat(0x400));
    for _ in 0..4096 {
        input.extend_from_slice(chunk.as_bytes());
    }
    input.extend_from_slice(b"0\r\n\r\n");
    let pieces: Vec<&[u8]> = input.chunks(64).collect();
    let o = run(&Limits::default(), &pieces);
    assert_eq!(o.requests[0].body.len(), 4 << 20);

    let mut input = b"POST / HTTP/1.1\r\nContent-Length: 4194304\r\n\r\n".to_vec();
    input.resize(input.len() + (4 << 20), b'y');
    let pieces: Vec<&[u8]> = input.chunks(64).collect();
    assert_eq!(
        run(&Limits::default(), &pieces).requests[0].body.len(),
        4 << 20
    );

    let mut head = String::from("GET / HTTP/1.1\r\n");
    while head.len() < 60_000 {
        head.push_str("X-Header-Name: some value here\r\n");
    }
    head.push_str("\r\n");
    let pieces: Vec<&[u8]> = head.as_bytes().chunks(1).collect();
    let limits = Limits {
        max_headers: 4000,
        ..Limits::default()
    };
    assert_eq!(run(&limits, &pieces).requests.len(), 1);
}

#[test]
fn chunk_overhead_is_bounded() {
    let limits = Limits {
        max_body_bytes: 100,
        max_head_bytes: 100,
        ..Limits::default()
    };
    let mut input = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for _ in 0..100 {
        input.extend_from_slice(b"1;padding-padding\r\na\r\n");
    }
    assert_eq!(run(&limits, &[&input]).error.map(|e| e.status), Some(413));
}

#[test]
fn errors_reset_and_shrunk_buffers_do_not_panic() {
    let mut f = Framer::new(Limits::default());
    assert!(f
        .next_frame(b"GET / HTTP/1.1\r\nX: y\r\n")
        .unwrap()
        .is_none());
    // The caller replaced its buffer with a shorter one: parsed from scratch.
    assert!(f.next_frame(b"GET").unwrap().is_none());
    let body_head = b"POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\nab";
    assert!(f.next_frame(body_head).unwrap().is_none());
    assert!(f.next_frame(b"GET / HTTP/1.1\r\n\r\n").unwrap().is_some());
    assert!(f.next_frame(b"BAD LINE\r\n\r\n").is_err());
    assert!(f.is_idle());
    f.reset();
    assert!(f.is_idle());
}
