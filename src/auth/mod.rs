//! Access control: who is asking (HTTP Basic password, bearer token, trusted UNIX peer, or
//! anonymous) and whether their role allows the route. Pure logic: no IO beyond the
//! configuration, time passed in. Off by default, so luigid-rs stays a drop-in for luigid.
//!
//! The router calls [`Auth::check`] once per request with the route's [`RouteClass`]; an
//! `Err(Response)` is the whole reply (401, 403, 405 or 429 with a JSON `{"error": ...}`).
//! On API replies it adds [`Auth::role_header`] so the visualiser learns its role without an
//! RPC. The router must classify `OPTIONS /api/*` (CORS preflight, which never carries
//! credentials), `HEAD /`, `GET /` and `/static/*` as [`RouteClass::Public`], and pass the
//! *percent-decoded* method name it dispatches in [`RouteClass::Api`].
//!
//! Nothing secret is ever logged: failures log the client address, the reason and, only when
//! it names a configured user or token, the name (escaped, truncated); never a password, a
//! token, an unknown user name (often a secret in the wrong field) or `Authorization`.
//!
//! The configuration reference follows (also `src/auth/README-snippet.md`).
//!
#![doc = include_str!("README-snippet.md")]

mod hash_password;
mod ratelimit;
pub mod role;

pub use hash_password::{hash_password, hash_password_main, hash_password_with};
pub use role::{required_role, Role};

use crate::app::Peer;
use crate::config::{ConfigError, Ini};
use crate::http::{Request, Response};
use argon2::password_hash::{PasswordHash, PasswordVerifier};
use argon2::Argon2;
use ratelimit::RateLimiter;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use subtle::ConstantTimeEq;

/// Our configuration section.
pub const SECTION: &str = "luigid_rs_auth";

/// Plain keys of [`SECTION`]; `user.<name>` and `token.<name>` come on top. Any other key is
/// a startup error: a typo such as `enable = true` must not leave the server open.
pub const KEYS: &[&str] = &[
    "enabled",
    "anonymous_role",
    "metrics_public",
    "trust_unix_uids",
    "unix_peer_role",
    "max_failures",
    "failure_window",
    "lockout",
];

/// The header a browser's state-changing POST must carry (lower case, as the framer stores
/// header names). A cross-site HTML form cannot set a custom header, and a cross-site script
/// can only after a CORS preflight that luigid's default `[cors]` refuses.
pub const CSRF_HEADER: &str = "x-luigid-rs-request";

/// The reply header that tells the visualiser the caller's role.
pub const ROLE_HEADER: &str = "X-Luigid-Rs-Role";

/// `WWW-Authenticate` of every 401.
pub const CHALLENGE: &str = "Basic realm=\"luigid-rs\", charset=\"UTF-8\"";

/// Successful password checks remembered (by digest of the `Authorization` value) so a
/// worker's every request does not pay for Argon2 on the single-threaded loop.
const VERIFIED_CACHE_MAX: usize = 4096;

/// What kind of route a request is for; the router decides.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteClass<'a> {
    /// `/api/{method}`, GET or POST; `method` percent-decoded, as dispatched.
    Api { method: &'a str },
    /// The history pages (`/tasklist*`, `/history*`): need `viewer`.
    Page,
    /// `/metrics`: needs `viewer` unless `metrics_public = true`.
    Metrics,
    /// Always open: `HEAD /` (health check), `GET /`, `/static/*`, `OPTIONS /api/*`, 404s.
    Public,
}

/// How the principal was established.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// Access control is off: everyone is admin, as in luigid.
    Disabled,
    /// A public route; nobody was identified and the role is not meaningful.
    Public,
    /// No credentials; the role is `anonymous_role`.
    Anonymous,
    /// HTTP Basic with a user's password.
    Password,
    /// A token, as `Authorization: Bearer` or as the password of Basic.
    Token,
    /// A UNIX-socket peer whose uid is in `trust_unix_uids`.
    UnixPeer,
}

/// Who is asking, once [`Auth::check`] let them through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// User or token name, `anonymous`, or `uid:<n>` for a trusted UNIX peer.
    pub name: String,
    pub role: Role,
    pub via: Via,
}

#[derive(Debug, Clone)]
struct User {
    name: String,
    role: Role,
    /// PHC string, validated at startup; parsed again per (uncached) check as it borrows.
    phc: String,
}

#[derive(Debug, Clone)]
struct Token {
    name: String,
    role: Role,
    digest: [u8; 32],
}

/// Access-control settings and state (failure counters, verified-credential cache).
#[derive(Debug, Clone)]
pub struct Auth {
    enabled: bool,
    anonymous: Option<Role>,
    metrics_public: bool,
    trusted_uids: Vec<u32>,
    unix_peer_role: Role,
    users: Vec<User>,
    tokens: Vec<Token>,
    limiter: RateLimiter,
    verified: HashMap<[u8; 32], usize>,
}

impl Default for Auth {
    /// Off: everything allowed, as luigid.
    fn default() -> Self {
        Auth {
            enabled: false,
            anonymous: Some(Role::Viewer),
            metrics_public: false,
            trusted_uids: Vec::new(),
            unix_peer_role: Role::Admin,
            users: Vec::new(),
            tokens: Vec::new(),
            limiter: RateLimiter::new(5, 60.0, 300.0),
            verified: HashMap::new(),
        }
    }
}

/// User and token names: what fits in a config key and in the user part of a URL without
/// percent-encoding (Luigi's urllib fallback sends the URL's user part undecoded).
pub(crate) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-@+".contains(&b))
}

pub(crate) fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn parse_hex32(s: &str) -> Option<[u8; 32]> {
    let b = s.as_bytes();
    if b.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, pair) in b.chunks(2).enumerate() {
        let hi = (pair[0] as char).to_digit(16)?;
        let lo = (pair[1] as char).to_digit(16)?;
        out[i] = (hi * 16 + lo) as u8;
    }
    Some(out)
}

/// Standard base64 (RFC 4648 section 4), padding optional, as `Authorization: Basic` uses.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let s = s.trim_end_matches('=');
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | v as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    // A lone sixth character cannot end a valid encoding.
    (bits < 6).then_some(out)
}

/// The rate-limit key of a peer: the IP without the port for TCP, `unix:uid=<n>` for a
/// UNIX socket (so one local user cannot lock out another).
pub fn client_key(peer: &Peer) -> String {
    if peer.addr == "unix" || peer.uid.is_some() {
        return match peer.uid {
            Some(u) => format!("unix:uid={u}"),
            None => "unix".to_string(),
        };
    }
    let a = peer.addr.as_str();
    if let Some(rest) = a.strip_prefix('[') {
        if let Some((ip, _)) = rest.split_once(']') {
            return ip.to_string();
        }
    }
    match a.rsplit_once(':') {
        Some((ip, port)) if !ip.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            ip.to_string()
        }
        _ => a.to_string(),
    }
}

/// A user name as it may appear in a log line: escaped, at most 64 characters.
fn shown(name: &str) -> String {
    let cut: String = name.chars().take(64).collect();
    format!("{cut:?}")
}

/// The log line of a refused login. `user` is given only for configured user and token
/// names; anything else the client sent may be a secret and is left out.
fn refusal_line(key: &str, user: Option<&str>, why: &str) -> String {
    match user {
        Some(u) => format!(
            "auth: refused credentials for user {} from {key}: {why}",
            shown(u)
        ),
        None => format!("auth: refused credentials from {key}: {why}"),
    }
}

fn json_error(status: u16, msg: &str) -> Response {
    let mut body = Vec::new();
    crate::pyjson::to_py_json(&serde_json::json!({ "error": msg }), &mut body);
    Response::new(status).with_body("application/json; charset=UTF-8", body)
}

fn unauthorized(msg: &str) -> Response {
    json_error(401, msg).with_header("WWW-Authenticate", CHALLENGE)
}

/// Whether a request comes from a browser: browsers send `Origin` on every POST (and `null`
/// when the page hides its address), `Sec-Fetch-*` everywhere, and usually `Referer`. Luigi's
/// worker (python-requests or urllib) and command-line tools send none of them.
fn looks_like_browser(req: &Request) -> bool {
    ["origin", "referer", "sec-fetch-site", "sec-fetch-mode"]
        .iter()
        .any(|h| req.header(h).is_some())
}

fn parse_role_key(
    ini: &Ini,
    key: &str,
    default: Option<Role>,
    allow_none: bool,
) -> Result<Option<Role>, ConfigError> {
    match ini.get_checked(SECTION, key)? {
        None => Ok(default),
        Some(v) => match v.trim() {
            "none" if allow_none => Ok(None),
            r => Role::parse(r).map(Some).ok_or_else(|| {
                let want = if allow_none {
                    "viewer, worker, admin or none"
                } else {
                    "viewer, worker or admin"
                };
                key_error(ini, key, &format!("{v:?} is not {want}"))
            }),
        },
    }
}

fn key_error(ini: &Ini, key: &str, msg: &str) -> ConfigError {
    let origin = ini.origin(SECTION, key);
    let at = if origin.is_empty() {
        String::new()
    } else {
        format!("{origin}: ")
    };
    ConfigError(format!("{at}[{SECTION}] {key}: {msg}"))
}

impl Auth {
    /// Read `[luigid_rs_auth]`. Errors name the file, line and key (never the secret value).
    pub fn from_ini(ini: &Ini) -> Result<Auth, ConfigError> {
        let mut auth = Auth {
            enabled: ini.get_bool(SECTION, "enabled", false)?,
            anonymous: parse_role_key(ini, "anonymous_role", Some(Role::Viewer), true)?,
            metrics_public: ini.get_bool(SECTION, "metrics_public", false)?,
            unix_peer_role: parse_role_key(ini, "unix_peer_role", Some(Role::Admin), false)?
                .unwrap_or(Role::Admin),
            ..Auth::default()
        };
        if let Some(v) = ini.get_checked(SECTION, "trust_unix_uids")? {
            // `[0, 1000]` is how the TOML reader hands over an array.
            let list = v.trim().trim_start_matches('[').trim_end_matches(']');
            for part in list.split([',', ' ', '\t', '\n']).filter(|p| !p.is_empty()) {
                let uid = part.parse::<u32>().map_err(|_| {
                    key_error(
                        ini,
                        "trust_unix_uids",
                        &format!("{part:?} is not a uid (a list like 0, 1000)"),
                    )
                })?;
                auth.trusted_uids.push(uid);
            }
        }
        let max_failures = ini.get_i64(SECTION, "max_failures", 5)?;
        let max_failures = u32::try_from(max_failures).map_err(|_| {
            key_error(
                ini,
                "max_failures",
                "must be 0 (no limit) or a positive count",
            )
        })?;
        let window = ini.get_f64(SECTION, "failure_window", 60.0)?;
        if !(window.is_finite() && window > 0.0) {
            return Err(key_error(
                ini,
                "failure_window",
                "must be a positive number of seconds",
            ));
        }
        let lockout = ini.get_f64(SECTION, "lockout", 300.0)?;
        if !(lockout.is_finite() && lockout >= 0.0) {
            return Err(key_error(ini, "lockout", "must be 0 or more seconds"));
        }
        auth.limiter = RateLimiter::new(max_failures, window, lockout);

        for (key, value) in ini.section(SECTION) {
            if let Some(name) = key.strip_prefix("user.") {
                auth.add_user(ini, &key, name, &value)?;
            } else if let Some(name) = key.strip_prefix("token.") {
                auth.add_token(ini, &key, name, &value)?;
            } else if (key == "user" || key == "token") && value.trim_start().starts_with('{') {
                // TOML reads `user.alice = "..."` as a table `user`; the reader hands it to
                // us as a JSON object.
                let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(&value)
                    .map_err(|_| {
                        key_error(ini, &key, "expected a table of name = \"role value\"")
                    })?;
                for (name, v) in map {
                    let full = format!("{key}.{name}");
                    let serde_json::Value::String(v) = v else {
                        return Err(key_error(ini, &key, &format!("{full}: not a string")));
                    };
                    if key == "user" {
                        auth.add_user(ini, &full, &name, &v)?;
                    } else {
                        auth.add_token(ini, &full, &name, &v)?;
                    }
                }
            } else if !KEYS.contains(&key.replace('-', "_").as_str()) {
                return Err(key_error(
                    ini,
                    &key,
                    &format!(
                        "unknown key (known: {}, user.<name>, token.<name>)",
                        KEYS.join(", ")
                    ),
                ));
            }
        }
        for t in &auth.tokens {
            if auth.users.iter().any(|u| u.name == t.name) {
                return Err(key_error(
                    ini,
                    &format!("token.{}", t.name),
                    &format!(
                        "user.{} exists too; a name is either a user or a token",
                        t.name
                    ),
                ));
            }
        }
        if auth.enabled
            && auth.anonymous.is_none()
            && auth.users.is_empty()
            && auth.tokens.is_empty()
            && auth.trusted_uids.is_empty()
        {
            log::warn!(
                "[{SECTION}] access control is on with anonymous_role = none and no users, \
                 tokens or trusted uids: every request but the public ones will be refused"
            );
        }
        if !auth.enabled && (!auth.users.is_empty() || !auth.tokens.is_empty()) {
            log::warn!(
                "[{SECTION}] users or tokens are configured but enabled is not true: \
                 access control is off and everything is allowed"
            );
        }
        Ok(auth)
    }

    fn role_and_secret<'v>(
        ini: &Ini,
        key: &str,
        name: &str,
        value: &'v str,
        what: &str,
    ) -> Result<(Role, &'v str), ConfigError> {
        if !valid_name(name) {
            return Err(key_error(
                ini,
                key,
                "the name after the dot may only use letters, digits and . _ - @ +",
            ));
        }
        let mut parts = value.split_whitespace();
        let (Some(role), Some(secret), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(key_error(
                ini,
                key,
                &format!("expected \"<role> {what}\" (role viewer, worker or admin)"),
            ));
        };
        let role = Role::parse(role).ok_or_else(|| {
            key_error(
                ini,
                key,
                &format!("role {role:?} is not viewer, worker or admin"),
            )
        })?;
        Ok((role, secret))
    }

    fn add_user(
        &mut self,
        ini: &Ini,
        key: &str,
        name: &str,
        value: &str,
    ) -> Result<(), ConfigError> {
        let (role, phc) = Self::role_and_secret(ini, key, name, value, "<$argon2id$... hash>")?;
        if phc.starts_with("$2") {
            return Err(key_error(
                ini,
                key,
                "bcrypt hashes are not supported; make an Argon2 hash with `luigid-rs hash-password`",
            ));
        }
        let parsed = PasswordHash::new(phc).map_err(|e| {
            key_error(
                ini,
                key,
                &format!("not a PHC hash string ({e}); make one with `luigid-rs hash-password`"),
            )
        })?;
        let alg = parsed.algorithm.as_str();
        if !matches!(alg, "argon2id" | "argon2i" | "argon2d") {
            return Err(key_error(
                ini,
                key,
                &format!("hash algorithm {alg:?} is not supported; use argon2id (`luigid-rs hash-password`)"),
            ));
        }
        if let Err(e) = argon2::Params::try_from(&parsed) {
            return Err(key_error(ini, key, &format!("bad Argon2 parameters: {e}")));
        }
        if parsed.hash.is_none() || parsed.salt.is_none() {
            return Err(key_error(
                ini,
                key,
                "the hash string lacks its salt or hash",
            ));
        }
        self.users.retain(|u| u.name != name);
        self.users.push(User {
            name: name.to_string(),
            role,
            phc: phc.to_string(),
        });
        Ok(())
    }

    fn add_token(
        &mut self,
        ini: &Ini,
        key: &str,
        name: &str,
        value: &str,
    ) -> Result<(), ConfigError> {
        let (role, digest) =
            Self::role_and_secret(ini, key, name, value, "sha256:<64 hex digits>")?;
        let digest = digest
            .strip_prefix("sha256:")
            .and_then(parse_hex32)
            .ok_or_else(|| {
                key_error(
                    ini,
                    key,
                    "expected sha256:<64 hex digits> of the token (never the token itself); \
                     make one with `luigid-rs hash-password --token`",
                )
            })?;
        self.tokens.retain(|t| t.name != name);
        self.tokens.push(Token {
            name: name.to_string(),
            role,
            digest,
        });
        Ok(())
    }

    /// Whether access control is on (`enabled = true`).
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// The header the router adds to `/api/*` replies so the visualiser can show or hide
    /// controls: `("X-Luigid-Rs-Role", "admin")`. `None` when access control is off (luigid
    /// sends no such header) or for a public route.
    pub fn role_header(&self, who: &Principal) -> Option<(&'static str, &'static str)> {
        (self.enabled && who.via != Via::Public && who.via != Via::Disabled)
            .then(|| (ROLE_HEADER, who.role.as_str()))
    }

    /// Decide one request at time `now`. `Ok` lets it through as that principal; `Err` is
    /// the complete reply:
    /// - 401 + `WWW-Authenticate`: credentials wrong or malformed, or none and the
    ///   anonymous role is too low;
    /// - 403: identified, but the role is too low; or a browser POST without [`CSRF_HEADER`];
    /// - 405 + `Allow: POST`: a state-changing method over GET;
    /// - 429 + `Retry-After`: too many failed logins from this address.
    pub fn check(
        &mut self,
        req: &Request,
        peer: &Peer,
        route: RouteClass<'_>,
        now: f64,
    ) -> Result<Principal, Response> {
        if !self.enabled {
            return Ok(Principal {
                name: "anonymous".to_string(),
                role: Role::Admin,
                via: Via::Disabled,
            });
        }
        let need = match route {
            RouteClass::Public => None,
            RouteClass::Metrics if self.metrics_public => None,
            RouteClass::Metrics | RouteClass::Page => Some(Role::Viewer),
            RouteClass::Api { method } => Some(required_role(method)),
        };
        let Some(need) = need else {
            // Credentials are not even looked at, so a health check never costs a hash.
            return Ok(Principal {
                name: "anonymous".to_string(),
                role: Role::Viewer,
                via: Via::Public,
            });
        };
        let mut who = self.identify(req, peer, now)?;
        // Logging in never leaves anyone with fewer rights than not logging in.
        if let Some(anon) = self.anonymous {
            who.role = who.role.max(anon);
        }
        if who.role < need {
            let what = match route {
                RouteClass::Api { method } => format!("method {method:?}"),
                RouteClass::Metrics => "/metrics".to_string(),
                _ => "this page".to_string(),
            };
            return Err(if who.via == Via::Anonymous {
                unauthorized(&format!(
                    "{what} needs the {need} role; anonymous access has {}; log in",
                    who.role
                ))
            } else {
                json_error(
                    403,
                    &format!(
                        "{what} needs the {need} role; {} has {}",
                        who.name, who.role
                    ),
                )
            });
        }
        if let RouteClass::Api { method } = route {
            if need > Role::Viewer {
                if req.method != "POST" {
                    return Err(json_error(
                        405,
                        &format!("{method} changes state: send it as POST"),
                    )
                    .with_header("Allow", "POST"));
                }
                let marked = req
                    .header(CSRF_HEADER)
                    .is_some_and(|v| v.trim_ascii() == b"1");
                if looks_like_browser(req) && !marked {
                    log::warn!(
                        "auth: refused browser POST {method} from {} without the {CSRF_HEADER} header",
                        client_key(peer)
                    );
                    return Err(json_error(
                        403,
                        "cross-site request refused: a browser request that changes state \
                         must carry the header X-Luigid-Rs-Request: 1",
                    ));
                }
            }
        }
        Ok(who)
    }

    /// Establish the principal: trusted UNIX peer, then credentials, then anonymous.
    fn identify(&mut self, req: &Request, peer: &Peer, now: f64) -> Result<Principal, Response> {
        if let Some(uid) = peer.uid {
            if self.trusted_uids.contains(&uid) {
                return Ok(Principal {
                    name: format!("uid:{uid}"),
                    role: self.unix_peer_role,
                    via: Via::UnixPeer,
                });
            }
        }
        let Some(authz) = req.header("authorization") else {
            return match self.anonymous {
                Some(role) => Ok(Principal {
                    name: "anonymous".to_string(),
                    role,
                    via: Via::Anonymous,
                }),
                None => Err(unauthorized("log in: anonymous access is off")),
            };
        };
        let key = client_key(peer);
        if let Some(left) = self.limiter.blocked(&key, now) {
            return Err(json_error(
                429,
                "too many failed logins from this address; try again later",
            )
            .with_header("Retry-After", format!("{}", left.ceil().max(1.0) as u64)));
        }
        let cache_key: [u8; 32] = Sha256::digest(authz).into();
        if let Some(&i) = self.verified.get(&cache_key) {
            if let Some(u) = self.users.get(i) {
                return Ok(Principal {
                    name: u.name.clone(),
                    role: u.role,
                    via: Via::Password,
                });
            }
        }
        let Some(text) = std::str::from_utf8(authz).ok().map(str::trim) else {
            return Err(self.fail(&key, None, "Authorization header is not text", now));
        };
        let (scheme, rest) = text.split_once(' ').unwrap_or((text, ""));
        let rest = rest.trim();
        if scheme.eq_ignore_ascii_case("bearer") {
            return match self.match_token(None, rest.as_bytes()) {
                Some(p) => Ok(p),
                None => Err(self.fail(&key, None, "unknown bearer token", now)),
            };
        }
        if !scheme.eq_ignore_ascii_case("basic") {
            return Err(self.fail(&key, None, "unsupported Authorization scheme", now));
        }
        let Some((user, password)) = base64_decode(rest)
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| {
                s.split_once(':')
                    .map(|(u, p)| (u.to_string(), p.to_string()))
            })
        else {
            return Err(self.fail(&key, None, "malformed Basic credentials", now));
        };
        if let Some(i) = self.users.iter().position(|u| u.name == user) {
            if self.verify_password(i, &password) {
                if self.verified.len() >= VERIFIED_CACHE_MAX {
                    self.verified.clear();
                }
                self.verified.insert(cache_key, i);
                let u = &self.users[i];
                log::info!(
                    "auth: user {} ({}) logged in from {key}",
                    shown(&u.name),
                    u.role
                );
                return Ok(Principal {
                    name: u.name.clone(),
                    role: u.role,
                    via: Via::Password,
                });
            }
            return Err(self.fail(&key, Some(&user), "wrong password", now));
        }
        if let Some(p) = self.match_token(Some(&user), password.as_bytes()) {
            return Ok(p);
        }
        if self.tokens.iter().any(|t| t.name == user) {
            return Err(self.fail(&key, Some(&user), "wrong token", now));
        }
        // Spend the same time as for a real user, so response times do not tell which
        // user names exist.
        if !self.users.is_empty() {
            let _ = self.verify_password(0, &password);
        }
        // The name is not logged: an unknown "name" is often a secret in the wrong place (a
        // token as the URL's user part, a password typed into the user field).
        Err(self.fail(&key, None, "unknown user name", now))
    }

    fn verify_password(&self, i: usize, password: &str) -> bool {
        let Some(u) = self.users.get(i) else {
            return false;
        };
        match PasswordHash::new(&u.phc) {
            Ok(h) => Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok(),
            Err(_) => false,
        }
    }

    /// Compare the token's SHA-256 with every configured digest in constant time (all are
    /// compared, whatever matches). With `name`, only that token counts (Basic `name:token`).
    fn match_token(&self, name: Option<&str>, token: &[u8]) -> Option<Principal> {
        if token.is_empty() {
            return None;
        }
        let digest: [u8; 32] = Sha256::digest(token).into();
        let mut found = None;
        for t in &self.tokens {
            let eq: bool = t.digest.ct_eq(&digest).into();
            if eq && name.is_none_or(|n| n == t.name) {
                found = Some(Principal {
                    name: t.name.clone(),
                    role: t.role,
                    via: Via::Token,
                });
            }
        }
        found
    }

    /// Log a refused login (address, configured user name, reason; never the secret), count
    /// it, and build the 401.
    fn fail(&mut self, key: &str, user: Option<&str>, why: &str, now: f64) -> Response {
        log::warn!("{}", refusal_line(key, user, why));
        if self.limiter.record_failure(key, now) {
            log::warn!(
                "auth: {} failed logins from {key} within {} s; refusing its credentials for {} s",
                self.limiter.max_failures,
                self.limiter.window,
                self.limiter.lockout
            );
        }
        unauthorized("wrong user name, password or token")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64() {
        assert_eq!(base64_decode("YWxpY2U6c2VjcmV0").unwrap(), b"alice:secret");
        assert_eq!(base64_decode("YQ==").unwrap(), b"a");
        assert_eq!(base64_decode("YWI=").unwrap(), b"ab");
        assert_eq!(base64_decode("YWI").unwrap(), b"ab");
        assert_eq!(base64_decode("").unwrap(), b"");
        assert!(base64_decode("Y").is_none());
        assert!(base64_decode("YW!j").is_none());
    }

    #[test]
    fn hex32() {
        let h = sha256_hex(b"x");
        assert_eq!(h.len(), 64);
        let d = parse_hex32(&h).unwrap();
        assert_eq!(&d[..], &Sha256::digest(b"x")[..]);
        assert!(parse_hex32(&h[..63]).is_none());
        assert!(parse_hex32(&format!("{}g", &h[..63])).is_none());
        assert!(parse_hex32(&h.to_uppercase()).is_some());
    }

    #[test]
    fn client_keys_drop_the_port() {
        let p = |addr: &str, uid| Peer {
            addr: addr.to_string(),
            uid,
        };
        assert_eq!(client_key(&p("10.0.0.1:5555", None)), "10.0.0.1");
        assert_eq!(client_key(&p("[::1]:80", None)), "::1");
        assert_eq!(client_key(&p("::1", None)), "::1");
        assert_eq!(client_key(&p("unix", Some(1000))), "unix:uid=1000");
        assert_eq!(client_key(&p("unix", None)), "unix");
    }

    #[test]
    fn names() {
        assert!(valid_name("alice.b-c_d@e+f"));
        assert!(!valid_name(""));
        assert!(!valid_name("a b"));
        assert!(!valid_name("a:b"));
        assert!(!valid_name("é"));
    }

    #[test]
    fn refusals_name_only_configured_users() {
        assert_eq!(
            refusal_line("10.0.0.1", Some("alice"), "wrong password"),
            "auth: refused credentials for user \"alice\" from 10.0.0.1: wrong password"
        );
        assert_eq!(
            refusal_line("10.0.0.1", None, "unknown user name"),
            "auth: refused credentials from 10.0.0.1: unknown user name"
        );
    }

    #[test]
    fn shown_escapes_and_truncates() {
        assert_eq!(shown("a\nb"), "\"a\\nb\"");
        assert_eq!(shown(&"x".repeat(100)).len(), 66);
    }
}
