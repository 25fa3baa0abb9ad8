use super::parse::*;
use super::raw::*;
use super::write::*;
use super::*;
use serde_json::json;
use serde_json::{Map, Value};

/// add_task's object arguments, which its caller reads as text.
const OBJECT_TEXT_ARGS: [&str; 2] = ["params", "param_visibilities"];

/// `params` and `param_visibilities` read as text by [`parse_members_with_texts`] are the
/// text the map path writes, and the rest of the list is unchanged.
#[test]
fn object_texts_are_what_the_map_would_write() {
    let keys = [
        r#""a""#,
        r#""b""#,
        r#""date""#,
        r#""\u00e9""#,
        "\"caf\u{e9}\"",
        r#""""#,
        r#""</x""#,
    ];
    let values = [
        r#""2026-11-24""#,
        r#""""#,
        "\"caf\u{e9} \\\"q\\\" \\\\ \\n \\u0001 \\ud83d\\ude00 \\ud800\"",
        "0",
        "-0",
        "7",
        "-12",
        "007",
        "1.5",
        "1e3",
        "123456789012345",
        "1234567890123456",
        "true",
        "false",
        "null",
        "NaN",
        "[]",
        "{}",
        r#"{"x": 1}"#,
        r#""</script>""#,
        "\"a\u{7f}b<c\"",
        "\"\\t\\u0041\"",
        "tru",
    ];
    let mut next = crate::test_rng::below(7);
    let (mut as_text, mut total) = (0, 0);
    for _ in 0..4000 {
        let members = next(10);
        let mut obj = String::from("{");
        for k in 0..members {
            if k > 0 {
                obj.push_str([",", ", ", " ,\n"][next(3)]);
            }
            obj.push_str(keys[next(keys.len())]);
            obj.push_str([":", ": ", " : "][next(3)]);
            obj.push_str(values[next(values.len())]);
        }
        obj.push_str(if next(2) == 0 { "}" } else { " }" });
        let name = ["params", "param_visibilities"][next(2)];
        let data = format!(r#"{{"task_id": "T", "{name}": {obj}, "worker": "W"}}"#);
        let plain = parse_members(&data).map(|a| {
            a.map(|a| {
                a.into_iter()
                    .map(|(k, v)| (k.into_owned(), v))
                    .collect::<Vec<_>>()
            })
        });
        let fast = parse_members_with_texts(&data, &OBJECT_TEXT_ARGS);
        total += 1;
        match (plain, fast) {
            (Ok(Some(plain)), Ok(Some((fast, texts, _)))) => {
                let slot = OBJECT_TEXT_ARGS.iter().position(|&n| n == name);
                assert!(texts
                    .iter()
                    .enumerate()
                    .all(|(i, t)| Some(i) == slot || t.is_none()));
                assert_eq!(plain.len(), fast.len(), "{data}");
                for ((pk, pv), (fk, fv)) in plain.iter().zip(&fast) {
                    assert_eq!(pk, fk);
                    match slot.and_then(|i| texts[i].as_deref()) {
                        Some(text) if pk == name => {
                            let mut want = Vec::new();
                            write_py_json(pv, &mut want);
                            assert_eq!(Ok(text), std::str::from_utf8(&want), "{data}");
                            assert_eq!(fv, &json!({}));
                            as_text += 1;
                        }
                        _ => assert_eq!(pv, fv, "{data}"),
                    }
                }
            }
            (Err(a), Err(b)) => assert_eq!(a, b, "{data}"),
            (a, b) => panic!("{data}: {a:?} vs {b:?}"),
        }
    }
    // Both kinds occur: read as text, and handed back to the usual parser.
    assert!(
        as_text > 200 && as_text < total - 200,
        "{as_text} of {total}"
    );
}

#[test]
fn plain_run_end_finds_the_first_quote_backslash_or_control_byte() {
    let alphabet = [
        b'a', b'"', b'\\', 0x1f, 0x20, 0x00, 0x7f, 0x80, 0xff, b'Z', 0x21, 0x5c,
    ];
    let mut next = crate::test_rng::below(99);
    for len in 0..40usize {
        for _ in 0..300 {
            let s: Vec<u8> = (0..len)
                .map(|_| {
                    // Mostly letters, so that runs of every length occur.
                    if next(4) == 0 {
                        alphabet[next(alphabet.len())]
                    } else {
                        b'a' + next(26) as u8
                    }
                })
                .collect();
            for start in 0..=len {
                let want = s[start..]
                    .iter()
                    .position(|&b| b == b'"' || b == b'\\' || b < 0x20)
                    .map_or(len, |i| start + i);
                assert_eq!(plain_run_end(&s, start), want, "{s:?} from {start}");
            }
        }
    }
}

#[test]
fn a_repeated_object_argument_keeps_its_last_value() {
    let (args, texts, _) = parse_members_with_texts(r#"{"params": {"a": "1"}, "params": {"a": 1.5}, "param_visibilities": [], "param_visibilities": {"a": 0}}"#, &OBJECT_TEXT_ARGS,
    )
    .unwrap()
    .unwrap();
    assert_eq!(texts, [None, Some(r#"{"a": 0}"#.to_string())]);
    assert_eq!(args[1].1, json!({"a": 1.5}));
    assert_eq!(args[3].1, json!({}));
    let (_, texts, _) = parse_members_with_texts(
        r#"{"params": {"a": [1]}, "params": {"b": "x"}}"#,
        &OBJECT_TEXT_ARGS,
    )
    .unwrap()
    .unwrap();
    assert_eq!(texts, [Some(r#"{"b": "x"}"#.to_string()), None]);
}

fn dump(v: &Value) -> String {
    let mut out = Vec::new();
    to_py_json(v, &mut out);
    String::from_utf8(out).unwrap()
}

#[test]
fn direct_writer_matches_the_serde_writer() {
    let mut seed: u64 = 0x2545_F491_4F6C_DD1D;
    let mut next = move || {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed
    };
    let pieces = [
        "a",
        "</",
        "<",
        "/",
        "\"",
        "\\",
        "\n",
        "\r",
        "\t",
        "\u{8}",
        "\u{c}",
        "\u{0}",
        "\u{1f}",
        "\u{7f}",
        "\u{80}",
        "\u{e9}",
        "\u{2028}",
        "\u{FFFF}",
        "\u{1F600}",
        "\u{FDD0}",
        "NaN",
        "x y",
        "<<//",
        "</script>",
    ];
    let mut string = |next: &mut dyn FnMut() -> u64| -> String {
        (0..next() % 6)
            .map(|_| pieces[(next() % pieces.len() as u64) as usize])
            .collect()
    };
    fn value(
        depth: u32,
        next: &mut dyn FnMut() -> u64,
        string: &mut dyn FnMut(&mut dyn FnMut() -> u64) -> String,
    ) -> Value {
        match next() % if depth > 3 { 7 } else { 9 } {
            0 => Value::Null,
            1 => Value::Bool(next().is_multiple_of(2)),
            2 => json!(next() as i64),
            3 => json!(next()),
            4 => json!(f64::from_bits(next() >> 2)),
            5 => json!((next() % 100_000) as f64 / 8.0 + 1.7e9),
            6 => {
                // Raw numbers and look-alikes.
                let lits = [
                    "NaN",
                    "Infinity",
                    "-Infinity",
                    "123456789012345678901234",
                    "-",
                ];
                let lit = lits[(next() % 5) as usize];
                if next().is_multiple_of(2) {
                    raw_number(lit)
                } else {
                    Value::String(string(next))
                }
            }
            7 => Value::Array(
                (0..next() % 4)
                    .map(|_| value(depth + 1, next, string))
                    .collect(),
            ),
            _ => Value::Object(
                (0..next() % 4)
                    .map(|_| (string(next), value(depth + 1, next, string)))
                    .collect(),
            ),
        }
    }
    // The serde writer checks for a raw number in a string's first escape-free run
    // only, so "\u{FDD0}NaN\n" came out as `NaN\n`; the direct writer quotes it.
    fn serde_breaks(v: &Value) -> bool {
        match v {
            Value::String(s) => {
                let run = s
                    .find(|c: char| c < '\u{20}' || c == '"' || c == '\\')
                    .map_or(s.as_str(), |i| &s[..i]);
                raw_literal(s).is_none() && raw_literal(run).is_some()
            }
            Value::Array(a) => a.iter().any(serde_breaks),
            Value::Object(m) => m.values().any(serde_breaks),
            _ => false,
        }
    }
    let mut compared = 0;
    for _ in 0..20_000 {
        let v = value(0, &mut next, &mut string);
        if serde_breaks(&v) {
            continue;
        }
        compared += 1;
        let (mut direct, mut serde) = (Vec::new(), Vec::new());
        to_py_json(&v, &mut direct);
        write_py_json(&v, &mut serde);
        assert_eq!(
            String::from_utf8_lossy(&direct),
            String::from_utf8_lossy(&serde),
            "{v:?}"
        );
    }
    assert!(compared > 15_000);
    let mut out = Vec::new();
    to_py_json(&json!(["\u{FDD0}NaN\n"]), &mut out);
    assert_eq!(out, b"[\"\\ufdd0NaN\\n\"]");
}

#[test]
fn dumps_matches_python_bytes() {
    // python3 -c 'import json; print(json.dumps(...).replace("</", "<\\/"))'
    let v = json!({"response": {"taskId": "</script>\u{e9}", "error": ""}});
    assert_eq!(
        dump(&v),
        r#"{"response": {"taskId": "<\/script>\u00e9", "error": ""}}"#
    );
    let v = json!([1, -2, 3.0, true, false, null, [], {}, "a/b", "<", "</"]);
    assert_eq!(
        dump(&v),
        r#"[1, -2, 3.0, true, false, null, [], {}, "a/b", "<", "<\/"]"#
    );
    let v = json!({"s": "\u{1F600}\u{7f}\u{1}\u{1f}\t\n\r\u{8}\u{c}\"\\x\u{2028}"});
    assert_eq!(
        dump(&v),
        r#"{"s": "\ud83d\ude00\u007f\u0001\u001f\t\n\r\b\f\"\\x\u2028"}"#
    );
    assert_eq!(
        dump(&json!({"</k": u64::MAX, "n": i64::MIN})),
        r#"{"<\/k": 18446744073709551615, "n": -9223372036854775808}"#
    );
    assert_eq!(dump(&json!("")), r#""""#);
    assert_eq!(dump(&json!("<<//")), r#""<<\//""#);
}

#[test]
fn dumps_keeps_insertion_order() {
    let v = parse_py_json(r#"{"b": 1, "a": 2, "c": {"z": 1, "y": 2}}"#).unwrap();
    assert_eq!(dump(&v), r#"{"b": 1, "a": 2, "c": {"z": 1, "y": 2}}"#);
}

#[test]
fn parses_python_literals() {
    let v = parse_py_json(r#"{"a": NaN, "b": Infinity, "c": -Infinity, "d": [ 1e400 ]}"#).unwrap();
    assert!(raw_number_value(&v["a"]).is_some_and(f64::is_nan));
    assert_eq!(raw_number_value(&v["b"]), Some(f64::INFINITY));
    assert_eq!(raw_number_value(&v["c"]), Some(f64::NEG_INFINITY));
    assert_eq!(raw_number_value(&v["d"][0]), Some(f64::INFINITY));
    let neg = parse_py_json("-1e400").unwrap();
    assert_eq!(raw_number_value(&neg), Some(f64::NEG_INFINITY));
    // Written back bare, as Python does; as keys they stay strings.
    assert_eq!(
        dump(&v),
        r#"{"a": NaN, "b": Infinity, "c": -Infinity, "d": [Infinity]}"#
    );
    let mut keyed = serde_json::Map::new();
    keyed.insert(RAW_NUMBER.to_string() + "NaN", json!(1));
    assert!(dump(&Value::Object(keyed)).starts_with("{\"\\ufdd0NaN\": 1"));
    // Inside a string they are just text.
    assert_eq!(parse_py_json(r#""NaN""#).unwrap(), json!("NaN"));
    assert_eq!(dump(&json!(["", "a\"b", "x"])), r#"["", "a\"b", "x"]"#);
}

#[test]
fn last_duplicate_key_wins_at_first_position() {
    let v = parse_py_json(r#"{"a": 1, "b": 2, "a": 3}"#).unwrap();
    assert_eq!(dump(&v), r#"{"a": 3, "b": 2}"#);
}

#[test]
fn a_recycled_argument_list_lends_its_buffer_to_the_next_parse() {
    let text = r#"{"a": 1, "b": 2}"#;
    let first = parse_members(text).unwrap().unwrap();
    let buffer = first.as_ptr();
    let capacity = first.capacity();
    assert!(capacity >= 2);
    recycle_members(first);
    let second = parse_members(r#"{"c": 3}"#).unwrap().unwrap();
    assert_eq!((second.as_ptr(), second.capacity()), (buffer, capacity));
    assert_eq!(second.len(), 1);
    assert_eq!(second[0].0, "c");
    recycle_members(second);
}

#[test]
fn args_parse_agrees_with_the_value_parse() {
    for text in [
        r#"{"a": 1, "b": [2, {"c": 3, "c": 4}], "a": 5}"#,
        " {} ",
        "{\"x\": NaN}",
        "[1]",
        "1 x",
        "{\"a\": 1} x",
        "{\"a\" 1}",
        "{\"a\": 1,}",
        "{",
        "",
        "\"s\"",
    ] {
        let args = parse_members(text);
        match parse_py_json(text) {
            Err(e) => assert_eq!(args, Err(e), "{text}"),
            Ok(Value::Object(map)) => {
                let list = args.unwrap().expect(text);
                // Duplicates are kept in order; folding them as a dict does gives the map.
                let folded: Map<String, Value> =
                    list.into_iter().map(|(k, v)| (k.into_owned(), v)).collect();
                assert_eq!(dump(&Value::Object(folded)), dump(&Value::Object(map)));
            }
            Ok(_) => assert_eq!(args, Ok(None), "{text}"),
        }
    }
    let list = parse_members(r#"{"a": 1, "b": 2, "a": 3}"#)
        .unwrap()
        .unwrap();
    let keys: Vec<&str> = list.iter().map(|(k, _)| k.as_ref()).collect();
    assert_eq!(keys, ["a", "b", "a"]);
    // Names with escapes are decoded (and copied); the others borrow the text.
    let list = parse_members(r#"{"a\u0062": 1, "c\"": 2, "d": 3}"#)
        .unwrap()
        .unwrap();
    let keys: Vec<&str> = list.iter().map(|(k, _)| k.as_ref()).collect();
    assert_eq!(keys, ["ab", "c\"", "d"]);
    assert!(matches!(list[2].0, std::borrow::Cow::Borrowed(_)));
}

#[test]
fn numbers_keep_int_float_distinction() {
    assert!(parse_py_json("1").unwrap().is_i64());
    assert!(parse_py_json("1.0").unwrap().is_f64());
    assert!(parse_py_json("1e2").unwrap().is_f64());
    assert_eq!(dump(&parse_py_json("1.0").unwrap()), "1.0");
    assert_eq!(dump(&parse_py_json("-0").unwrap()), "0");
    assert_eq!(dump(&parse_py_json("-0.0").unwrap()), "-0.0");
    assert_eq!(
        dump(&parse_py_json("18446744073709551615").unwrap()),
        "18446744073709551615"
    );
    assert_eq!(
        dump(&parse_py_json("-9223372036854775808").unwrap()),
        "-9223372036854775808"
    );
    // Beyond 64 bits: kept exactly, as Python does.
    let big = parse_py_json("-100000000000000000000000").unwrap();
    assert_eq!(dump(&big), "-100000000000000000000000");
    assert_eq!(raw_number_value(&big), Some(-1e23));
    assert_eq!(dump(&parse_py_json("1E16").unwrap()), "1e+16");
}

#[test]
fn strings_and_escapes() {
    assert_eq!(
        parse_py_json(r#""a\"\\\/\b\f\n\r\t\u00e9\ud83d\ude00""#).unwrap(),
        json!("a\"\\/\u{8}\u{c}\n\r\t\u{e9}\u{1F600}")
    );
    // Lone surrogates, in either order or unpaired, become U+FFFD.
    assert_eq!(parse_py_json(r#""\ud800""#).unwrap(), json!("\u{FFFD}"));
    assert_eq!(parse_py_json(r#""\udc00x""#).unwrap(), json!("\u{FFFD}x"));
    assert_eq!(
        parse_py_json(r#""\ud800\u0041""#).unwrap(),
        json!("\u{FFFD}A")
    );
    assert_eq!(
        parse_py_json(r#""\ud800\ud800\udc00""#).unwrap(),
        json!("\u{FFFD}\u{10000}")
    );
    assert_eq!(
        parse_py_json("\"\u{e9}\u{7f}\"").unwrap(),
        json!("\u{e9}\u{7f}")
    );
}

#[test]
fn rejects_what_python_rejects() {
    for bad in [
        "",
        " ",
        "{",
        "[1,]",
        "{\"a\":1,}",
        "{'a': 1}",
        "{a: 1}",
        "01",
        "1.",
        ".5",
        "1e",
        "+1",
        "-",
        "nan",
        "inf",
        "-NaN",
        "Infinityx",
        "\"a\tb\"",
        "\"a\nb\"",
        "\"\\x\"",
        "\"\\u12\"",
        "\"\\u12g4\"",
        "\"abc",
        "[1 2]",
        "{\"a\" 1}",
        "\u{feff}{}",
        "{} {}",
        "tru",
    ] {
        assert!(parse_py_json(bad).is_err(), "{bad:?} should fail");
    }
}

#[test]
fn accepts_what_python_accepts() {
    for (good, dumped) in [
        (" \t\r\n{ \"a\" : [ 1 , 2 ] } \n", r#"{"a": [1, 2]}"#),
        ("[]", "[]"),
        ("0", "0"),
        ("-0.5e-3", "-0.0005"),
        ("1E+2", "100.0"),
        ("\"\"", "\"\""),
        ("[null,true,false]", "[null, true, false]"),
    ] {
        assert_eq!(dump(&parse_py_json(good).unwrap()), dumped, "{good:?}");
    }
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let deep = "[".repeat(100_000);
    assert!(parse_py_json(&deep).is_err());
    let ok = format!("{}{}", "[".repeat(500), "]".repeat(500));
    assert!(parse_py_json(&ok).is_ok());
}

#[test]
fn error_message_says_where() {
    let e = parse_py_json("{\"a\": }").unwrap_err();
    assert_eq!(
        e,
        JsonError {
            kind: ErrorKind::ExpectingValue,
            pos: 6
        }
    );
    assert_eq!(
        e.to_string(),
        "data is not valid JSON: Expecting value at char 6"
    );
    let e = parse_py_json(r#"["\q"]"#).unwrap_err();
    assert_eq!(
        e.to_string(),
        r"data is not valid JSON: Invalid \escape at char 3"
    );
}

/// A client's string that begins with the raw-number mark is echoed as the string it
/// was, by every path: parsed values and names, add_task's object texts, both writers.
#[test]
fn a_client_string_with_the_mark_stays_a_string() {
    // (sent, the string Python reads, what json.dumps writes back)
    let sent = [
        (r#""\ufdd0NaN""#, "\u{FDD0}NaN", r#""\ufdd0NaN""#),
        ("\"\u{FDD0}NaN\"", "\u{FDD0}NaN", r#""\ufdd0NaN""#),
        (r#""\ufdd0123""#, "\u{FDD0}123", r#""\ufdd0123""#),
        (
            r#""\ufdd0\ufdd0Infinity""#,
            "\u{FDD0}\u{FDD0}Infinity",
            r#""\ufdd0\ufdd0Infinity""#,
        ),
        (r#""\ufdd0""#, "\u{FDD0}", r#""\ufdd0""#),
        (r#""\ufdd0x\n""#, "\u{FDD0}x\n", r#""\ufdd0x\n""#),
    ];
    for (text, read, python) in sent {
        let v = parse_py_json(text).unwrap();
        assert_eq!(client_str(v.as_str().unwrap()), read, "{text}");
        assert_eq!(dump(&v), python, "{text}");
        let mut via_serde = Vec::new();
        write_py_json(&v, &mut via_serde);
        assert_eq!(String::from_utf8(via_serde).unwrap(), python, "{text}");
        assert_eq!(raw_number_value(&v), None, "{text}");
        // As a name, in a nested object, and in add_task's params object text.
        let obj = format!(r#"{{"params": {{{text}: {text}}}, {text}: [{text}]}}"#);
        let want = format!(r#"{{"params": {{{python}: {python}}}, {python}: [{python}]}}"#);
        assert_eq!(dump(&parse_py_json(&obj).unwrap()), want, "{obj}");
        let (args, texts, _) = parse_members_with_texts(&obj, &OBJECT_TEXT_ARGS)
            .unwrap()
            .unwrap();
        let params = texts[0].clone().unwrap_or_else(|| dump(&args[0].1));
        assert_eq!(params, format!("{{{python}: {python}}}"), "{obj}");
        assert_eq!(client_str(&args[1].0), read, "{obj}");
        assert_eq!(dump(&args[1].1), format!("[{python}]"), "{obj}");
    }
    // The numbers the mark stands for still go back bare.
    let numbers = "[NaN, -Infinity, 123456789012345678901234567890]";
    assert_eq!(dump(&parse_py_json(numbers).unwrap()), numbers);
}
