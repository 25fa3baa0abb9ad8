//! Configuration: Luigi's config files (INI in Python ConfigParser's dialect, or TOML),
//! read in Luigi's order, and typed getters whose errors name the file, section and key.
//!
//! Owner: the server/config work item. Other modules build their typed settings from
//! [`Ini`] (e.g. `SchedulerConfig::from_ini`).

use std::collections::BTreeMap;

/// Merged configuration: section -> key -> (value, file it came from).
#[derive(Debug, Clone, Default)]
pub struct Ini {
    pub sections: BTreeMap<String, BTreeMap<String, (String, String)>>,
}

/// A configuration error a user can act on.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

impl Ini {
    /// Raw value; `a_b` also finds `a-b`, as Luigi does.
    pub fn get(&self, section: &str, key: &str) -> Option<&str> {
        let sec = self.sections.get(section)?;
        sec.get(key)
            .or_else(|| sec.get(&key.replace('_', "-")))
            .map(|(v, _)| v.as_str())
    }

    pub fn set(&mut self, section: &str, key: &str, value: &str) {
        self.sections
            .entry(section.to_string())
            .or_default()
            .insert(key.to_string(), (value.to_string(), "<set>".to_string()));
    }

    fn origin(&self, section: &str, key: &str) -> String {
        self.sections
            .get(section)
            .and_then(|s| s.get(key).or_else(|| s.get(&key.replace('_', "-"))))
            .map(|(_, f)| f.clone())
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
        match self.get(section, key) {
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
        match self.get(section, key) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .replace('_', "")
                .parse::<i64>()
                .map_err(|_| self.bad(section, key, "an integer", v)),
        }
    }

    /// Python `float()`: also `inf`, `nan`, `1e3`.
    pub fn get_f64(&self, section: &str, key: &str, default: f64) -> Result<f64, ConfigError> {
        match self.get(section, key) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .replace('_', "")
                .parse::<f64>()
                .map_err(|_| self.bad(section, key, "a number", v)),
        }
    }

    /// Keys of a section in file order is not kept; sorted is fine for `[resources]`.
    pub fn section(&self, section: &str) -> Vec<(String, String)> {
        self.sections
            .get(section)
            .map(|s| s.iter().map(|(k, (v, _))| (k.clone(), v.clone())).collect())
            .unwrap_or_default()
    }
}
