//! The merged configuration and the readers for Luigi's two file formats: INI in Python
//! `ConfigParser`'s dialect as Luigi customises it (`luigi/configuration/cfg_parser.py`:
//! `%(name)s` and `${ENV}` interpolation, continuation lines, the DEFAULT section), and
//! TOML.
//!
//! The INI reader is our own because no Rust crate reads Python's dialect: the
//! interpolation rules, `:` as well as `=`, indented continuation lines, whole-line
//! comments only and case-sensitive keys are what make an existing luigi.cfg mean the
//! same here as for luigid.

use indexmap::IndexMap;

/// A configuration error a user can act on.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

/// Python's `BasicInterpolation` nesting bound.
const MAX_INTERPOLATION_DEPTH: usize = 10;

const DEFAULT_SECTION: &str = "DEFAULT";

/// One value and where it came from.
#[derive(Debug, Clone)]
struct Entry {
    /// As written in the file (continuation lines joined with `\n`).
    raw: String,
    /// After `%(name)s` and `${ENV}` interpolation; `raw` when that failed.
    value: String,
    /// Why interpolation failed; reported when the value is read through a typed getter.
    error: Option<String>,
    /// "path:line", or "<command line>" for [`Ini::set`].
    origin: String,
    /// Values from [`Ini::set`] and TOML files are never interpolated.
    literal: bool,
}

type Section = IndexMap<String, Entry>;

/// Merged configuration. Sections and the keys within a section keep the order in which
/// they first appeared (a later file overrides a value in place, as ConfigParser does), so
/// `[resources]` keeps its file order.
#[derive(Debug, Clone, Default)]
pub struct Ini {
    sections: IndexMap<String, Section>,
    defaults: Section,
    files: Vec<String>,
    /// Snapshot of the environment for `${ENV}`; `None` reads the process environment.
    env: Option<Vec<(String, String)>>,
}

impl Ini {
    /// An empty configuration whose `${ENV}` lookups use `env` instead of the process
    /// environment (for tests).
    pub fn with_env(env: &[(&str, &str)]) -> Ini {
        Ini {
            env: Some(
                env.iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            ),
            ..Ini::default()
        }
    }

    /// Files read so far, in order.
    pub fn files(&self) -> &[String] {
        &self.files
    }

    /// Section names in file order ([DEFAULT] excluded).
    pub fn section_names(&self) -> Vec<&str> {
        self.sections.keys().map(|s| s.as_str()).collect()
    }

    pub fn has_section(&self, section: &str) -> bool {
        self.sections.contains_key(section)
    }

    fn find(&self, section: &str, key: &str) -> Option<&Entry> {
        // Luigi looks up `a_b` first, then `a-b`; [DEFAULT] backs every existing section.
        let own = if section == DEFAULT_SECTION {
            Some(&self.defaults)
        } else {
            Some(self.sections.get(section)?)
        };
        let under = key.replace('-', "_");
        let dash = under.replace('_', "-");
        for k in [&under, &dash] {
            if let Some(e) = own.and_then(|s| s.get(k.as_str())) {
                return Some(e);
            }
            if let Some(e) = self.defaults.get(k.as_str()) {
                return Some(e);
            }
        }
        None
    }

    /// Value after interpolation; `a_b` also finds `a-b`, as Luigi does. A value whose
    /// interpolation failed is returned raw here; the typed getters report the failure.
    pub fn get(&self, section: &str, key: &str) -> Option<&str> {
        self.find(section, key).map(|e| e.value.as_str())
    }

    /// Like [`Ini::get`], but an interpolation failure is an error naming file and key.
    pub fn get_checked(&self, section: &str, key: &str) -> Result<Option<&str>, ConfigError> {
        match self.find(section, key) {
            None => Ok(None),
            Some(e) => match &e.error {
                Some(msg) => Err(ConfigError(format!(
                    "{}: [{}] {}: {}",
                    e.origin, section, key, msg
                ))),
                None => Ok(Some(e.value.as_str())),
            },
        }
    }

    /// Override a value (command-line flags). Stored literally: never interpolated.
    pub fn set(&mut self, section: &str, key: &str, value: &str) {
        let entry = Entry {
            raw: value.to_string(),
            value: value.to_string(),
            error: None,
            origin: "<command line>".to_string(),
            literal: true,
        };
        if section == DEFAULT_SECTION {
            self.defaults.insert(key.to_string(), entry);
        } else {
            self.sections
                .entry(section.to_string())
                .or_default()
                .insert(key.to_string(), entry);
        }
        // Other values may refer to this one through %(key)s.
        self.resolve();
    }

    /// Where a value came from ("file:line"), for error messages.
    pub fn origin(&self, section: &str, key: &str) -> String {
        self.find(section, key)
            .map(|e| e.origin.clone())
            .unwrap_or_default()
    }

    fn bad(&self, section: &str, key: &str, want: &str, got: &str) -> ConfigError {
        ConfigError(format!(
            "{}: [{}] {} = {:?} is not {}",
            self.origin(section, key),
            section,
            key,
            got,
            want
        ))
    }

    pub fn get_str(&self, section: &str, key: &str, default: &str) -> String {
        self.get(section, key).unwrap_or(default).to_string()
    }

    /// Luigi's bool: only `true`/`false`, any case.
    pub fn get_bool(&self, section: &str, key: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get_checked(section, key)? {
            None => Ok(default),
            Some(v) => match v.trim().to_ascii_lowercase().as_str() {
                "true" => Ok(true),
                "false" => Ok(false),
                _ => Err(self.bad(section, key, "true or false", v)),
            },
        }
    }

    /// Python `int()`: sign, surrounding blanks and `_` separators allowed.
    pub fn get_i64(&self, section: &str, key: &str, default: i64) -> Result<i64, ConfigError> {
        match self.get_checked(section, key)? {
            None => Ok(default),
            Some(v) => parse_py_int(v).ok_or_else(|| self.bad(section, key, "an integer", v)),
        }
    }

    /// Python `float()`: also `inf`, `nan`, `1e3`.
    pub fn get_f64(&self, section: &str, key: &str, default: f64) -> Result<f64, ConfigError> {
        match self.get_checked(section, key)? {
            None => Ok(default),
            Some(v) => parse_py_float(v).ok_or_else(|| self.bad(section, key, "a number", v)),
        }
    }

    /// The section's own keys in file order, without the keys that [DEFAULT] also has
    /// (as Luigi's `getintdict`, which builds `[resources]`).
    pub fn section(&self, section: &str) -> Vec<(String, String)> {
        self.sections
            .get(section)
            .map(|s| {
                s.iter()
                    .filter(|(k, _)| !self.defaults.contains_key(k.as_str()))
                    .map(|(k, e)| (k.clone(), e.value.clone()))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Read one INI file's text. Duplicate sections or keys within it are errors; values
    /// from earlier files are overridden key by key.
    pub fn read_ini_str(&mut self, text: &str, file: &str) -> Result<(), ConfigError> {
        for (section, key, value, line) in parse_ini(text, file)? {
            let entry = Entry {
                raw: value.clone(),
                value,
                error: None,
                origin: format!("{file}:{line}"),
                literal: false,
            };
            if section == DEFAULT_SECTION {
                self.defaults.insert(key, entry);
            } else {
                self.sections.entry(section).or_default().insert(key, entry);
            }
        }
        self.files.push(file.to_string());
        self.resolve();
        Ok(())
    }

    /// Read one TOML file's text: each top-level table is a section; later tables merge
    /// key-wise into earlier ones. Values are kept as their text (bools `true`/`false`,
    /// numbers as Python prints them, arrays and tables as JSON).
    pub fn read_toml_str(&mut self, text: &str, file: &str) -> Result<(), ConfigError> {
        let table: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| ConfigError(format!("{file}: {}", e.message())))?;
        for (section, content) in table {
            let toml::Value::Table(content) = content else {
                return Err(ConfigError(format!(
                    "{file}: top-level key {section:?} is not a table; put keys under a [section]"
                )));
            };
            for (key, value) in content {
                let text = toml_value_text(&value);
                let entry = Entry {
                    raw: text.clone(),
                    value: text,
                    error: None,
                    origin: file.to_string(),
                    literal: true,
                };
                self.sections
                    .entry(section.clone())
                    .or_default()
                    .insert(key, entry);
            }
        }
        self.files.push(file.to_string());
        Ok(())
    }

    fn env_var(&self, name: &str) -> Option<String> {
        match &self.env {
            Some(env) => env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()),
            None => std::env::var(name).ok(),
        }
    }

    /// Recompute every interpolated value. Python interpolates when a value is read; we do it
    /// up front so `get` can borrow, and keep failures per value so a broken value in a
    /// section luigid never reads does not stop the server.
    fn resolve(&mut self) {
        let mut results: Vec<(Option<String>, String, Result<String, String>)> = Vec::new();
        let names: Vec<Option<String>> = std::iter::once(None)
            .chain(self.sections.keys().map(|s| Some(s.clone())))
            .collect();
        for name in names {
            let sec = match &name {
                None => &self.defaults,
                Some(n) => match self.sections.get(n) {
                    Some(s) => s,
                    None => continue,
                },
            };
            for (key, entry) in sec {
                if entry.literal {
                    continue;
                }
                let r = self
                    .interpolate(sec, &entry.raw, 1)
                    .and_then(|v| self.expand_env(&v));
                results.push((name.clone(), key.clone(), r));
            }
        }
        for (name, key, r) in results {
            let sec = match name {
                None => &mut self.defaults,
                Some(n) => match self.sections.get_mut(&n) {
                    Some(s) => s,
                    None => continue,
                },
            };
            if let Some(e) = sec.get_mut(&key) {
                match r {
                    Ok(v) => {
                        e.value = v;
                        e.error = None;
                    }
                    Err(msg) => {
                        e.value = e.raw.clone();
                        e.error = Some(msg);
                    }
                }
            }
        }
    }

    /// `%(name)s` from the same section or [DEFAULT]; `%%` is a literal `%`.
    fn interpolate(&self, sec: &Section, raw: &str, depth: usize) -> Result<String, String> {
        if depth > MAX_INTERPOLATION_DEPTH {
            return Err(format!(
                "interpolation nested deeper than {MAX_INTERPOLATION_DEPTH} levels in {raw:?}"
            ));
        }
        let mut out = String::new();
        let mut rest = raw;
        while let Some(p) = rest.find('%') {
            out.push_str(&rest[..p]);
            rest = &rest[p..];
            if rest.starts_with("%%") {
                out.push('%');
                rest = &rest[2..];
            } else if let Some(after) = rest.strip_prefix("%(") {
                let Some(close) = after
                    .find(")s")
                    .filter(|&c| c > 0 && !after[..c].contains(')'))
                else {
                    return Err(format!("bad interpolation reference {rest:?}"));
                };
                let name = &after[..close];
                let referenced = sec
                    .get(name)
                    .or_else(|| self.defaults.get(name))
                    .ok_or_else(|| format!("%({name})s refers to a key that does not exist"))?;
                if referenced.raw.contains('%') && !referenced.literal {
                    out.push_str(&self.interpolate(sec, &referenced.raw, depth + 1)?);
                } else {
                    out.push_str(&referenced.raw);
                }
                rest = &after[close + 2..];
            } else {
                return Err(format!(
                    "'%' must be followed by '%' or '(' (write %% for a literal %), found {rest:?}"
                ));
            }
        }
        out.push_str(rest);
        Ok(out)
    }

    /// `${NAME}` from the environment; a missing variable is an error.
    fn expand_env(&self, value: &str) -> Result<String, String> {
        let mut out = String::new();
        let mut rest = value;
        while let Some(start) = rest.find("${") {
            let Some(len) = rest[start + 2..].find('}') else {
                break;
            };
            if len == 0 {
                // `${}` is not a reference; keep it and look further.
                out.push_str(&rest[..start + 3]);
                rest = &rest[start + 3..];
                continue;
            }
            let name = &rest[start + 2..start + 2 + len];
            let v = self.env_var(name).ok_or_else(|| {
                format!("refers to the environment variable {name}, which is not set")
            })?;
            out.push_str(&rest[..start]);
            out.push_str(&v);
            rest = &rest[start + 3 + len..];
        }
        out.push_str(rest);
        Ok(out)
    }
}

fn toml_value_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Boolean(b) => if *b { "true" } else { "false" }.to_string(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => {
            if f.is_finite() && f.fract() == 0.0 && f.abs() < 1e16 {
                format!("{f:.1}")
            } else {
                f.to_string()
            }
        }
        toml::Value::Datetime(d) => d.to_string(),
        other => serde_json::to_string(other).unwrap_or_default(),
    }
}

/// Python `int()` on a string.
pub fn parse_py_int(v: &str) -> Option<i64> {
    let t = v.trim();
    let (sign, digits) = match t.strip_prefix('-') {
        Some(d) => (-1, d),
        None => (1, t.strip_prefix('+').unwrap_or(t)),
    };
    // `_` only between digits, as Python allows.
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
        || !digits.chars().all(|c| c.is_ascii_digit() || c == '_')
    {
        return None;
    }
    digits
        .replace('_', "")
        .parse::<i64>()
        .ok()
        .map(|n| n * sign)
}

/// Python `float()` on a string.
pub fn parse_py_float(v: &str) -> Option<f64> {
    let t = v.trim();
    let lower = t.to_ascii_lowercase();
    let body = lower.trim_start_matches(['+', '-']);
    match body {
        "inf" | "infinity" | "nan" => {
            let x = if body == "nan" {
                f64::NAN
            } else {
                f64::INFINITY
            };
            return Some(if lower.starts_with('-') { -x } else { x });
        }
        _ => {}
    }
    if t.contains("__") || t.starts_with('_') || t.ends_with('_') {
        return None;
    }
    t.replace('_', "").parse::<f64>().ok().filter(|_| {
        // Rust also accepts "inf"-like spellings handled above; reject what Python rejects.
        !body.starts_with("inf") && !body.starts_with("nan")
    })
}

/// Parse INI text into (section, key, value, line) in file order, as Python's
/// `ConfigParser` (strict, case-sensitive keys, no inline comments, empty lines allowed in
/// multi-line values).
fn parse_ini(text: &str, file: &str) -> Result<Vec<(String, String, String, usize)>, ConfigError> {
    let err = |line: usize, msg: String| ConfigError(format!("{file}:{line}: {msg}"));
    let mut out: Vec<(String, String, Vec<String>, usize)> = Vec::new();
    let mut seen_sections: Vec<String> = Vec::new();
    let mut seen_keys: std::collections::HashSet<(String, String)> = Default::default();
    let mut section: Option<String> = None;
    // Index in `out` of the value that continuation lines extend.
    let mut current: Option<usize> = None;
    let mut indent_level = 0usize;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    for (i, line) in text.lines().enumerate() {
        let lineno = i + 1;
        let stripped = line.trim();
        let is_comment = stripped.starts_with('#') || stripped.starts_with(';');
        if stripped.is_empty() || is_comment {
            // Blank lines inside a value are kept (trailing ones dropped at the end);
            // comment lines are skipped.
            if !is_comment {
                if let Some(c) = current {
                    out[c].2.push(String::new());
                }
            }
            continue;
        }
        let cur_indent = line.len() - line.trim_start().len();
        if let (Some(c), true) = (current, cur_indent > indent_level) {
            out[c].2.push(stripped.to_string());
            continue;
        }
        indent_level = cur_indent;
        if let Some(header) = stripped
            .strip_prefix('[')
            .and_then(|r| r.rfind(']').map(|e| &r[..e]))
            .filter(|h| !h.is_empty())
        {
            if header != DEFAULT_SECTION {
                if seen_sections.iter().any(|s| s == header) {
                    return Err(err(
                        lineno,
                        format!("section [{header}] appears twice in this file"),
                    ));
                }
                seen_sections.push(header.to_string());
            }
            section = Some(header.to_string());
            current = None;
            continue;
        }
        let Some(sec) = &section else {
            return Err(err(
                lineno,
                format!("{stripped:?} comes before any [section] header"),
            ));
        };
        let Some(delim) = stripped.find(['=', ':']) else {
            return Err(err(
                lineno,
                format!("{stripped:?} has no value (write key = value)"),
            ));
        };
        let key = stripped[..delim].trim_end();
        let value = stripped[delim + 1..].trim();
        if key.is_empty() {
            return Err(err(lineno, format!("{stripped:?} has no key")));
        }
        if !seen_keys.insert((sec.clone(), key.to_string())) {
            return Err(err(
                lineno,
                format!("key {key:?} appears twice in section [{sec}] of this file"),
            ));
        }
        out.push((
            sec.clone(),
            key.to_string(),
            vec![value.to_string()],
            lineno,
        ));
        current = Some(out.len() - 1);
    }
    Ok(out
        .into_iter()
        .map(|(s, k, parts, line)| (s, k, parts.join("\n").trim_end().to_string(), line))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ini(text: &str) -> Ini {
        let mut i = Ini::with_env(&[("HOME_X", "/home/x")]);
        i.read_ini_str(text, "t.cfg").unwrap();
        i
    }

    fn ini_err(text: &str) -> String {
        let mut i = Ini::with_env(&[]);
        i.read_ini_str(text, "t.cfg").unwrap_err().0
    }

    #[test]
    fn delimiters_whitespace_and_case() {
        let c = ini("[s]\na = 1\nB:2\n  \nc=x = y\nd : e:f\nempty =\n");
        assert_eq!(c.get("s", "a"), Some("1"));
        assert_eq!(c.get("s", "B"), Some("2"));
        assert_eq!(c.get("s", "b"), None, "keys are case-sensitive");
        assert_eq!(c.get("s", "c"), Some("x = y"));
        assert_eq!(c.get("s", "d"), Some("e:f"));
        assert_eq!(c.get("s", "empty"), Some(""));
        assert_eq!(c.get("S", "a"), None, "sections are case-sensitive");
    }

    #[test]
    fn comments_are_whole_lines_only() {
        let c = ini("# top\n[s]\n; c\na = 1 # not a comment\n  # indented comment\nb = 2 ; kept\n");
        assert_eq!(c.get("s", "a"), Some("1 # not a comment"));
        assert_eq!(c.get("s", "b"), Some("2 ; kept"));
    }

    #[test]
    fn continuation_lines() {
        let c = ini("[s]\na = first\n  second\n\n  third\n\nb = 2\nc =\n   x\n  y\n\n\n");
        assert_eq!(c.get("s", "a"), Some("first\nsecond\n\nthird"));
        assert_eq!(c.get("s", "b"), Some("2"));
        // As Python: the empty first line stays.
        assert_eq!(c.get("s", "c"), Some("\nx\ny"));
    }

    #[test]
    fn indented_key_is_a_continuation() {
        let c = ini("[s]\na = 1\n  b = 2\n");
        assert_eq!(c.get("s", "a"), Some("1\nb = 2"));
        assert_eq!(c.get("s", "b"), None);
    }

    #[test]
    fn duplicate_key_or_section_names_file_and_line() {
        assert_eq!(
            ini_err("[s]\na = 1\na = 2\n"),
            "t.cfg:3: key \"a\" appears twice in section [s] of this file"
        );
        assert_eq!(
            ini_err("[s]\na = 1\n[t]\n[s]\n"),
            "t.cfg:4: section [s] appears twice in this file"
        );
        assert!(ini_err("a = 1\n").starts_with("t.cfg:1:"));
        assert!(ini_err("[s]\nnovalue\n").starts_with("t.cfg:2:"));
        assert!(ini_err("[s]\n= 3\n").starts_with("t.cfg:2:"));
    }

    #[test]
    fn later_file_overrides_key_by_key_and_keeps_order() {
        let mut c = Ini::with_env(&[]);
        c.read_ini_str("[resources]\nz = 1\na = 2\n[s]\nk = old\n", "one.cfg")
            .unwrap();
        c.read_ini_str("[resources]\nm = 3\nz = 9\n[s]\nj = new\n", "two.cfg")
            .unwrap();
        assert_eq!(
            c.section("resources"),
            vec![
                ("z".to_string(), "9".to_string()),
                ("a".to_string(), "2".to_string()),
                ("m".to_string(), "3".to_string())
            ]
        );
        assert_eq!(c.get("s", "k"), Some("old"));
        assert_eq!(c.get("s", "j"), Some("new"));
        assert_eq!(c.origin("resources", "z"), "two.cfg:3");
        assert_eq!(c.origin("resources", "a"), "one.cfg:3");
        assert_eq!(c.files(), ["one.cfg", "two.cfg"]);
    }

    #[test]
    fn default_section_backs_every_section() {
        let c = ini("[DEFAULT]\nbase = /srv\nx = 1\n[s]\npath = %(base)s/state\nx = 2\nr = 5\n");
        assert_eq!(c.get("s", "base"), Some("/srv"));
        assert_eq!(c.get("s", "path"), Some("/srv/state"));
        assert_eq!(c.get("s", "x"), Some("2"));
        assert_eq!(c.get("missing", "base"), None);
        // [DEFAULT] keys are not part of a section's own listing.
        assert_eq!(
            c.section("s"),
            vec![
                ("path".into(), "/srv/state".into()),
                ("r".into(), "5".into())
            ]
        );
    }

    #[test]
    fn percent_interpolation() {
        let c = ini("[s]\na = x\nb = %(a)s-%(a)s\nc = 100%%\nd = %(b)s/%(c)s\nbad = 5%\nmissing = %(nope)s\n");
        assert_eq!(c.get("s", "b"), Some("x-x"));
        assert_eq!(c.get("s", "c"), Some("100%"));
        assert_eq!(c.get("s", "d"), Some("x-x/100%"));
        // Broken values are errors only when read through a typed getter.
        assert_eq!(c.get("s", "bad"), Some("5%"));
        let e = c.get_i64("s", "bad", 0).unwrap_err().0;
        assert!(e.starts_with("t.cfg:6: [s] bad:"), "{e}");
        let e = c.get_checked("s", "missing").unwrap_err().0;
        assert!(e.contains("%(nope)s"), "{e}");
    }

    #[test]
    fn interpolation_depth_is_bounded() {
        let mut text = String::from("[s]\nk0 = end\n");
        for i in 1..=12 {
            text.push_str(&format!("k{} = %(k{})s\n", i, i - 1));
        }
        let c = ini(&text);
        assert_eq!(c.get_checked("s", "k9").unwrap(), Some("end"));
        assert!(c.get_checked("s", "k12").is_err());
        let c = ini("[s]\na = %(b)s\nb = %(a)s\n");
        assert!(c.get_checked("s", "a").unwrap_err().0.contains("deeper"));
    }

    #[test]
    fn env_expansion() {
        let c = ini("[s]\na = ${HOME_X}/luigi\nb = ${NOPE}\nc = $HOME_X\nd = ${}${HOME_X}\n");
        assert_eq!(c.get("s", "a"), Some("/home/x/luigi"));
        assert!(c.get_checked("s", "b").unwrap_err().0.contains("NOPE"));
        assert_eq!(c.get("s", "c"), Some("$HOME_X"));
        assert_eq!(c.get("s", "d"), Some("${}/home/x"));
    }

    #[test]
    fn dashes_find_underscores_and_back() {
        let c = ini("[scheduler]\nretry-delay = 5\nremove_delay = 7\n");
        assert_eq!(c.get_f64("scheduler", "retry_delay", 0.0).unwrap(), 5.0);
        assert_eq!(c.get_f64("scheduler", "remove-delay", 0.0).unwrap(), 7.0);
    }

    #[test]
    fn typed_getters_follow_python() {
        let c = ini("[s]\ni = +1_000\nj = 5.0\nb = TRUE\nc = yes\nf = inf\ng = 1e3\n");
        assert_eq!(c.get_i64("s", "i", 0).unwrap(), 1000);
        let e = c.get_i64("s", "j", 0).unwrap_err().0;
        assert_eq!(e, "t.cfg:3: [s] j = \"5.0\" is not an integer");
        assert!(c.get_bool("s", "b", false).unwrap());
        assert!(c.get_bool("s", "c", false).is_err());
        assert_eq!(c.get_f64("s", "f", 0.0).unwrap(), f64::INFINITY);
        assert_eq!(c.get_f64("s", "g", 0.0).unwrap(), 1000.0);
        assert_eq!(c.get_i64("s", "absent", 42).unwrap(), 42);
        assert_eq!(parse_py_int(" -7 "), Some(-7));
        assert_eq!(parse_py_int("1__0"), None);
        assert_eq!(parse_py_float("-Infinity"), Some(f64::NEG_INFINITY));
        assert_eq!(parse_py_float("abc"), None);
    }

    #[test]
    fn set_overrides_literally_and_feeds_interpolation() {
        let mut c = ini("[scheduler]\nstate_path = /a\nbackup = %(state_path)s.bak\n");
        c.set("scheduler", "state_path", "/b%");
        assert_eq!(c.get("scheduler", "state_path"), Some("/b%"));
        assert_eq!(c.origin("scheduler", "state_path"), "<command line>");
        // A literal `%` in a flag value is not an interpolation error for the flag itself.
        assert!(c.get_checked("scheduler", "state_path").is_ok());
        c.set("new", "k", "v");
        assert_eq!(c.get("new", "k"), Some("v"));
    }

    #[test]
    fn toml_tables_merge_key_wise() {
        let mut c = Ini::with_env(&[]);
        c.read_toml_str(
            "[scheduler]\nretry_delay = 5\nrecord_task_history = true\n[resources]\nb = 1\na = 2\n",
            "one.toml",
        )
        .unwrap();
        c.read_toml_str(
            "[scheduler]\nremove_delay = 1.0\nx = '%(y)s'\n[cors]\nallowed_origins = ['a']\n",
            "two.toml",
        )
        .unwrap();
        assert_eq!(c.get_i64("scheduler", "retry_delay", 0).unwrap(), 5);
        assert!(c
            .get_bool("scheduler", "record_task_history", false)
            .unwrap());
        assert_eq!(c.get("scheduler", "remove_delay"), Some("1.0"));
        assert_eq!(
            c.get("scheduler", "x"),
            Some("%(y)s"),
            "no interpolation in TOML"
        );
        assert_eq!(c.get("cors", "allowed_origins"), Some("[\"a\"]"));
        assert_eq!(c.section("resources")[0].0, "b");
        assert!(c
            .read_toml_str("x = 1\n", "bad.toml")
            .unwrap_err()
            .0
            .contains("bad.toml"));
        assert!(c
            .read_toml_str("[s\n", "bad.toml")
            .unwrap_err()
            .0
            .starts_with("bad.toml:"));
    }
}
