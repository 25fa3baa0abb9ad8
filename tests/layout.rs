//! The direction of imports between the top-level modules of `src/`, read from the
//! sources: which module may name which (`use crate::x`, `crate::x::...`, `super::` paths
//! that climb to the crate root). Test code is left out: items under `#[cfg(test)]` and
//! the files of modules declared under it. ARCHITECTURE.md says why the arrows run this
//! way: the scheduler is pure state, the HTTP layer is sans-IO, the api sits between the
//! router and the scheduler, and the JSON codec is a leaf that everyone may use.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// What a module may not import. `Only(list)`: nothing but these; `Not(list)`: anything
/// but these.
enum Rule {
    Only(&'static [&'static str]),
    Not(&'static [&'static str]),
}

const RULES: &[(&str, Rule)] = &[
    // The pure core: the JSON codec (with the float repr) and the clock, nothing else.
    ("scheduler", Rule::Only(&["pyjson", "clock"])),
    // Sans-IO HTTP: bytes in, requests out; it knows nothing of who serves them.
    (
        "http",
        Rule::Not(&["server", "router", "app", "api", "scheduler"]),
    ),
    // The api table and its calls: below the router, above the scheduler.
    ("api", Rule::Not(&["router", "server", "app", "http"])),
    // The leaf codec.
    ("pyjson", Rule::Only(&[])),
];

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `text` with comments, string and char literals blanked (their bytes replaced by
/// spaces, newlines kept), so that braces and paths are only the code's own.
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    let blank = |out: &mut Vec<u8>, from: &[u8]| {
        out.extend(from.iter().map(|&c| if c == b'\n' { b'\n' } else { b' ' }));
    };
    while i < b.len() {
        let rest = &b[i..];
        if rest.starts_with(b"//") {
            let end = rest.iter().position(|&c| c == b'\n').unwrap_or(rest.len());
            blank(&mut out, &rest[..end]);
            i += end;
        } else if rest.starts_with(b"/*") {
            // Block comments nest in Rust.
            let (mut depth, mut j) = (0usize, 0);
            while j < rest.len() {
                if rest[j..].starts_with(b"/*") {
                    depth += 1;
                    j += 2;
                } else if rest[j..].starts_with(b"*/") {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    j += 1;
                }
            }
            blank(&mut out, &rest[..j]);
            i += j;
        } else if let Some(len) = raw_string_len(rest) {
            blank(&mut out, &rest[..len]);
            i += len;
        } else if rest[0] == b'"' {
            let mut j = 1;
            while j < rest.len() && rest[j] != b'"' {
                j += if rest[j] == b'\\' { 2 } else { 1 };
            }
            let end = (j + 1).min(rest.len());
            blank(&mut out, &rest[..end]);
            i += end;
        } else if rest[0] == b'\'' {
            // A char literal ('x', '\n', '\u{..}', a multi-byte char) or a lifetime.
            let len = if rest.get(1) == Some(&b'\\') {
                rest[2..].iter().position(|&c| c == b'\'').map(|p| p + 3)
            } else {
                let ch_len = std::str::from_utf8(&rest[1..rest.len().min(5)])
                    .ok()
                    .or_else(|| {
                        (2..=5)
                            .rev()
                            .find_map(|n| std::str::from_utf8(rest.get(1..n)?).ok())
                    })
                    .and_then(|s| s.chars().next())
                    .map_or(1, char::len_utf8);
                (rest.get(1 + ch_len) == Some(&b'\'')).then_some(ch_len + 2)
            };
            match len {
                Some(len) => {
                    blank(&mut out, &rest[..len]);
                    i += len;
                }
                None => {
                    out.push(b'\'');
                    i += 1;
                }
            }
        } else {
            out.push(rest[0]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The length of a raw (byte) string literal at the start of `s`: `r"..."`, `r#"..."#`,
/// `br"..."`.
fn raw_string_len(s: &[u8]) -> Option<usize> {
    let start = if s.starts_with(b"br") {
        2
    } else if s.starts_with(b"r") {
        1
    } else {
        return None;
    };
    let hashes = s[start..].iter().take_while(|&&c| c == b'#').count();
    if s.get(start + hashes) != Some(&b'"') {
        return None;
    }
    let mut close = vec![b'"'];
    close.extend(std::iter::repeat_n(b'#', hashes));
    let body = start + hashes + 1;
    let end = s[body..]
        .windows(close.len())
        .position(|w| w == close.as_slice())?;
    Some(body + end + close.len())
}

/// `code` without the items under `#[cfg(test)]`, and the names of modules declared
/// there as files (`#[cfg(test)] mod tests;`).
fn without_tests(code: &str) -> (String, Vec<String>) {
    let mut out = String::with_capacity(code.len());
    let mut test_mods = Vec::new();
    let mut rest = code;
    while let Some(at) = rest.find("#[cfg(test)]") {
        out.push_str(&rest[..at]);
        let item = &rest[at + "#[cfg(test)]".len()..];
        // The item ends at its `;` or at the brace that closes its first `{`.
        let mut depth = 0usize;
        let mut end = item.len();
        for (i, c) in item.char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        end = i + 1;
                        break;
                    }
                }
                ';' if depth == 0 => {
                    end = i + 1;
                    let decl: Vec<&str> = item[..i].split_whitespace().collect();
                    if let [.., "mod", name] = decl.as_slice() {
                        test_mods.push((*name).to_string());
                    }
                    break;
                }
                _ => {}
            }
        }
        rest = &item[end..];
    }
    out.push_str(rest);
    (out, test_mods)
}

/// The module path of a file under `src/` (`src/scheduler/ops.rs` -> `scheduler::ops`).
fn module_path(src: &Path, file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(src).expect("file under src");
    let mut parts: Vec<String> = rel
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let last = parts.pop().unwrap_or_default();
    let stem = last.trim_end_matches(".rs");
    if !matches!(stem, "mod" | "lib" | "main") {
        parts.push(stem.to_string());
    }
    parts
}

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// The top-level modules that `code`, in the module at `path`, names: after `crate::`
/// (also in a `crate::{a, b::c}` group) or after `super::` chains that reach the root.
fn named_modules(code: &str, path: &[String]) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let chars: Vec<char> = code.chars().collect();
    let word_at =
        |i: usize| -> String { chars[i..].iter().take_while(|&&c| is_ident(c)).collect() };
    let mut i = 0;
    while i < chars.len() {
        let starts_word = i == 0 || !is_ident(chars[i - 1]);
        if !starts_word || !is_ident(chars[i]) {
            i += 1;
            continue;
        }
        let word = word_at(i);
        let mut j = i + word.len();
        let mut up = match word.as_str() {
            "crate" => Some(path.len()),
            "super" => Some(1),
            _ => None,
        };
        if let Some(mut levels) = up.take() {
            // Climb `super::super::...`.
            while word == "super"
                && chars[j..].starts_with(&[':', ':'])
                && word_at(j + 2) == "super"
            {
                levels += 1;
                j += 2 + "super".len();
            }
            if levels >= path.len() && chars[j..].starts_with(&[':', ':']) {
                j += 2;
                while chars.get(j).is_some_and(|c| c.is_whitespace()) {
                    j += 1;
                }
                if chars.get(j) == Some(&'{') {
                    // A group: the first name of each entry at depth one.
                    let mut depth = 0;
                    let mut expect_name = true;
                    while j < chars.len() {
                        let c = chars[j];
                        match c {
                            '{' => {
                                depth += 1;
                                expect_name = depth == 1;
                            }
                            '}' => {
                                depth -= 1;
                                if depth == 0 {
                                    break;
                                }
                            }
                            ',' if depth == 1 => expect_name = true,
                            c if expect_name && depth == 1 && is_ident(c) => {
                                let name = word_at(j);
                                j += name.len();
                                found.insert(name);
                                expect_name = false;
                                continue;
                            }
                            _ => {}
                        }
                        j += 1;
                    }
                } else {
                    let name = word_at(j);
                    if !name.is_empty() {
                        found.insert(name);
                    }
                }
            }
        }
        i += word.len().max(1);
    }
    // `self` in a group names the root itself; neither is a module of its own.
    found.remove("self");
    found.remove("super");
    found
}

/// Every arrow that runs the wrong way: "file: names module".
fn violations() -> Vec<String> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    files.sort();
    let mut texts = BTreeMap::new();
    let mut test_only: BTreeSet<PathBuf> = BTreeSet::new();
    for file in &files {
        let text = fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
        let (code, test_mods) = without_tests(&code_only(&text));
        let dir = match file.file_name().and_then(|n| n.to_str()) {
            Some("mod.rs" | "lib.rs" | "main.rs") => file.parent().map(Path::to_path_buf),
            _ => Some(file.with_extension("")),
        };
        if let Some(dir) = dir {
            for m in test_mods {
                test_only.insert(dir.join(format!("{m}.rs")));
                test_only.insert(dir.join(&m).join("mod.rs"));
                test_only.insert(dir.join(m));
            }
        }
        texts.insert(file.clone(), code);
    }
    let mut bad = Vec::new();
    for (file, code) in &texts {
        if test_only
            .iter()
            .any(|t| file == t || (t.is_dir() && file.starts_with(t)))
        {
            continue;
        }
        let path = module_path(&src, file);
        let Some(top) = path.first() else { continue };
        let Some((_, rule)) = RULES.iter().find(|(m, _)| m == top) else {
            continue;
        };
        for named in named_modules(code, &path) {
            if &named == top {
                continue;
            }
            let wrong = match rule {
                Rule::Only(allowed) => !allowed.contains(&named.as_str()),
                Rule::Not(forbidden) => forbidden.contains(&named.as_str()),
            };
            if wrong {
                let rel = file.strip_prefix(&src).unwrap_or(file);
                bad.push(format!("src/{}: {top} names {named}", rel.display()));
            }
        }
    }
    bad
}

#[test]
fn imports_point_one_way() {
    let bad = violations();
    assert!(
        bad.is_empty(),
        "imports that run the wrong way:\n{}",
        bad.join("\n")
    );
}

/// The reader itself: it finds the arrows written each way, and none in test code,
/// comments or strings.
#[test]
fn the_reader_sees_paths_and_skips_tests_comments_and_strings() {
    let path = vec!["scheduler".to_string(), "ops".to_string()];
    let code = r#"
use crate::{pyjson::to_py_json, config::Ini};
use super::super::api::Args;
use super::types::Task;
fn f() { crate::http::x(); let s = "crate::router"; let c = '{'; }
// crate::server
/* crate::app */
#[cfg(test)]
mod tests {
    use crate::metrics;
}
#[cfg(test)]
mod more;
"#;
    let (code, test_mods) = without_tests(&code_only(code));
    assert_eq!(test_mods, vec!["more".to_string()]);
    let named: Vec<String> = named_modules(&code, &path).into_iter().collect();
    assert_eq!(named, ["api", "config", "http", "pyjson"]);
}
