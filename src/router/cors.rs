//! CORS for `/api/*` exactly as luigid's RPC handler does it (`luigi/server.py`,
//! `RPCHandler._handle_cors` and `_handle_cors_preflight`),
//! from the `[cors]` section read once at startup.

use crate::config::Ini;
use crate::http::Response;

#[derive(Debug, Clone, PartialEq)]
pub struct CorsConfig {
    pub enabled: bool,
    /// Exact origins; the entries "*" and "null" are dropped, as luigid does.
    pub allowed_origins: Vec<String>,
    pub allow_any_origin: bool,
    pub allow_null_origin: bool,
    pub max_age: i64,
    pub allowed_methods: String,
    pub allowed_headers: String,
    pub exposed_headers: String,
    pub allow_credentials: bool,
}

impl Default for CorsConfig {
    fn default() -> Self {
        CorsConfig {
            enabled: false,
            allowed_origins: Vec::new(),
            allow_any_origin: false,
            allow_null_origin: false,
            max_age: 86400,
            allowed_methods: "GET, OPTIONS".to_string(),
            allowed_headers: "Accept, Content-Type, Origin".to_string(),
            exposed_headers: String::new(),
            allow_credentials: false,
        }
    }
}

impl CorsConfig {
    pub fn from_ini(ini: &Ini) -> Result<CorsConfig, String> {
        let d = CorsConfig::default();
        let s = "cors";
        let bool_ = |k: &str, def: bool| ini.get_bool(s, k, def).map_err(|e| e.to_string());
        let allowed_origins = match ini.get(s, "allowed_origins") {
            None => Vec::new(),
            Some(text) => {
                let list = match crate::pyjson::parse_py_json(text) {
                    Ok(serde_json::Value::Array(items)) => items,
                    _ => {
                        return Err(format!(
                            "[cors] allowed_origins = {text:?} is not a JSON list"
                        ))
                    }
                };
                // Non-string entries can never equal an Origin header; drop them too.
                list.into_iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .filter(|o| o != "*" && o != "null")
                    .collect()
            }
        };
        Ok(CorsConfig {
            enabled: bool_("enabled", d.enabled)?,
            allowed_origins,
            allow_any_origin: bool_("allow_any_origin", d.allow_any_origin)?,
            allow_null_origin: bool_("allow_null_origin", d.allow_null_origin)?,
            max_age: ini
                .get_i64(s, "max_age", d.max_age)
                .map_err(|e| e.to_string())?,
            allowed_methods: ini.get_str(s, "allowed_methods", &d.allowed_methods),
            allowed_headers: ini.get_str(s, "allowed_headers", &d.allowed_headers),
            exposed_headers: ini.get_str(s, "exposed_headers", &d.exposed_headers),
            allow_credentials: bool_("allow_credentials", d.allow_credentials)?,
        })
    }

    /// The Allow-Origin value for this Origin, and whether it came from the list.
    fn allow_origin<'a>(&self, origin: Option<&'a str>) -> Option<(&'a str, bool)> {
        let origin = origin.filter(|o| !o.is_empty() && self.enabled)?;
        if origin == "null" {
            return self.allow_null_origin.then_some(("null", false));
        }
        if self.allow_any_origin {
            return Some(("*", false));
        }
        self.allowed_origins
            .iter()
            .any(|o| o == origin)
            .then_some((origin, true))
    }

    /// Headers for a preflight (`OPTIONS /api/...`) reply.
    pub fn preflight(&self, origin: Option<&str>, resp: &mut Response) {
        let Some((allow, _)) = self.allow_origin(origin) else {
            return;
        };
        let mut h = |n: &str, v: String| resp.headers.push((n.to_string(), v));
        h("Access-Control-Allow-Origin", allow.to_string());
        h("Access-Control-Max-Age", self.max_age.to_string());
        h("Access-Control-Allow-Methods", self.allowed_methods.clone());
        h("Access-Control-Allow-Headers", self.allowed_headers.clone());
        if self.allow_credentials {
            h("Access-Control-Allow-Credentials", "true".to_string());
        }
        if !self.exposed_headers.is_empty() {
            h(
                "Access-Control-Expose-Headers",
                self.exposed_headers.clone(),
            );
        }
    }

    /// Headers for a successful GET/POST RPC reply: only Allow-Origin, plus
    /// `Vary: Origin` when the origin matched the list.
    pub fn actual(&self, origin: Option<&str>, resp: &mut Response) {
        let Some((allow, listed)) = self.allow_origin(origin) else {
            return;
        };
        resp.headers
            .push(("Access-Control-Allow-Origin".to_string(), allow.to_string()));
        if listed {
            resp.headers
                .push(("Vary".to_string(), "Origin".to_string()));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_section() {
        let mut ini = Ini::default();
        ini.set("cors", "enabled", "True");
        ini.set(
            "cors",
            "allowed_origins",
            r#"["https://a", "*", "null", 3]"#,
        );
        ini.set("cors", "max_age", "60");
        let c = CorsConfig::from_ini(&ini).unwrap();
        assert!(c.enabled);
        assert_eq!(c.allowed_origins, vec!["https://a".to_string()]);
        assert_eq!(c.max_age, 60);
        assert_eq!(c.allowed_methods, "GET, OPTIONS");

        ini.set("cors", "allowed_origins", "https://a");
        assert!(CorsConfig::from_ini(&ini).is_err());
        ini.set("cors", "allowed_origins", "[]");
        ini.set("cors", "enabled", "yes");
        assert!(CorsConfig::from_ini(&ini).is_err());
    }
}
