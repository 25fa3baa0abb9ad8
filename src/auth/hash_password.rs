//! `luigid-rs hash-password`: makes the values the `[luigid_rs_auth]` section stores, so
//! nobody has to put a raw password or token into a config file.
//!
//! - `hash-password` reads a password (prompted twice without echo on a terminal, else the
//!   first line of stdin) and prints its Argon2id hash in the PHC format.
//! - `hash-password --token` makes a new random 256-bit token, prints the token on stderr
//!   (shown once, give it to the client) and its `sha256:<hex>` digest on stdout.
//! - With `--name NAME --role ROLE` the whole config line is printed instead
//!   (`user.NAME = ROLE $argon2id$...` or `token.NAME = ROLE sha256:...`), ready for
//!   `>> luigi.cfg`.

use super::{sha256_hex, valid_name, Role};
use argon2::password_hash::{PasswordHasher, SaltString};
use argon2::Argon2;
use std::io::{BufRead, Read, Write};

const USAGE: &str =
    "usage: luigid-rs hash-password [--token] [--name NAME --role viewer|worker|admin]

Without --token: reads a password (prompted on a terminal, else the first line of stdin) and
prints its Argon2id hash for a `user.NAME = ROLE HASH` line of [luigid_rs_auth].
With --token: makes a random token, prints it on stderr (give it to the client; it is not
stored) and prints `sha256:<hex>` for a `token.NAME = ROLE sha256:<hex>` line.
With --name and --role: prints the whole config line.";

#[derive(Debug, Default, PartialEq)]
struct Options {
    token: bool,
    name: Option<String>,
    role: Option<Role>,
}

fn parse_args(args: &[String]) -> Result<Options, String> {
    let mut o = Options::default();
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let (flag, inline) = match a.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f, Some(v.to_string())),
            _ => (a.as_str(), None),
        };
        let mut value = |what: &str| -> Result<String, String> {
            match inline.clone().or_else(|| it.next().cloned()) {
                Some(v) => Ok(v),
                None => Err(format!("{flag} needs {what}")),
            }
        };
        match flag {
            "--token" if inline.is_none() => o.token = true,
            "--name" => {
                let n = value("a name")?;
                if !valid_name(&n) {
                    return Err(format!(
                        "--name {n:?}: use letters, digits and . _ - @ + only"
                    ));
                }
                o.name = Some(n);
            }
            "--role" => {
                let r = value("a role")?;
                o.role = Some(
                    Role::parse(&r)
                        .ok_or_else(|| format!("--role {r:?} is not viewer, worker or admin"))?,
                );
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if o.name.is_some() != o.role.is_some() {
        return Err("--name and --role go together".to_string());
    }
    Ok(o)
}

/// Entry point for `luigid-rs hash-password ARGS...` (`args` excludes the subcommand).
/// Returns the process exit code: 0 done, 1 failed, 2 bad usage.
pub fn hash_password_main(args: &[String]) -> i32 {
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    let mut err = std::io::stderr().lock();
    // SAFETY: isatty only inspects the descriptor.
    let tty = unsafe { libc::isatty(0) } == 1;
    if tty {
        run(args, &mut TtyPrompt, &mut out, &mut err)
    } else {
        run(args, &mut LinePrompt(stdin.lock()), &mut out, &mut err)
    }
}

/// The same without a terminal: the password is the first line of `input`. For tests and
/// scripts.
pub fn hash_password_with(
    args: &[String],
    input: &mut dyn BufRead,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> i32 {
    run(args, &mut LinePrompt(input), out, err)
}

trait Prompt {
    fn password(&mut self, err: &mut dyn Write) -> Result<String, String>;
}

struct LinePrompt<R: BufRead>(R);

impl<R: BufRead> Prompt for LinePrompt<R> {
    fn password(&mut self, _err: &mut dyn Write) -> Result<String, String> {
        let mut line = String::new();
        self.0
            .read_line(&mut line)
            .map_err(|e| format!("cannot read the password from stdin: {e}"))?;
        Ok(strip_eol(line))
    }
}

struct TtyPrompt;

impl Prompt for TtyPrompt {
    fn password(&mut self, err: &mut dyn Write) -> Result<String, String> {
        let first = read_hidden("Password: ", err)?;
        let again = read_hidden("Repeat password: ", err)?;
        if first != again {
            return Err("the passwords differ".to_string());
        }
        Ok(first)
    }
}

fn strip_eol(mut s: String) -> String {
    if s.ends_with('\n') {
        s.pop();
        if s.ends_with('\r') {
            s.pop();
        }
    }
    s
}

/// Read one line from the terminal on stdin with echo off.
fn read_hidden(prompt: &str, err: &mut dyn Write) -> Result<String, String> {
    let _ = write!(err, "{prompt}");
    let _ = err.flush();
    let mut term = std::mem::MaybeUninit::<libc::termios>::uninit();
    // SAFETY: fd 0 is open; tcgetattr fills `term` when it returns 0.
    let saved = if unsafe { libc::tcgetattr(0, term.as_mut_ptr()) } == 0 {
        // SAFETY: initialised by the successful tcgetattr above.
        Some(unsafe { term.assume_init() })
    } else {
        None
    };
    if let Some(t) = saved {
        let mut quiet = t;
        quiet.c_lflag &= !libc::ECHO;
        // SAFETY: a valid termios for fd 0.
        unsafe { libc::tcsetattr(0, libc::TCSANOW, &quiet) };
    }
    let mut line = String::new();
    let read = std::io::stdin().read_line(&mut line);
    if let Some(t) = saved {
        // SAFETY: restores the settings read above.
        unsafe { libc::tcsetattr(0, libc::TCSANOW, &t) };
    }
    let _ = writeln!(err);
    read.map_err(|e| format!("cannot read the password: {e}"))?;
    Ok(strip_eol(line))
}

fn random_bytes(buf: &mut [u8]) -> Result<(), String> {
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(buf))
        .map_err(|e| format!("cannot read random bytes from /dev/urandom: {e}"))
}

/// Argon2id with the crate's defaults (the OWASP minimum: 19 MiB, 2 passes, 1 lane) and a
/// random 16-byte salt, as a PHC string.
pub fn hash_password(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    random_bytes(&mut salt)?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| format!("salt: {e}"))?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash the password: {e}"))
}

fn run(args: &[String], prompt: &mut dyn Prompt, out: &mut dyn Write, err: &mut dyn Write) -> i32 {
    let opts = match parse_args(args) {
        Ok(o) => o,
        Err(msg) => {
            if !msg.is_empty() {
                let _ = writeln!(err, "luigid-rs hash-password: {msg}");
            }
            let _ = writeln!(err, "{USAGE}");
            return if msg.is_empty() { 0 } else { 2 };
        }
    };
    let result = if opts.token {
        make_token(&opts, err)
    } else {
        prompt.password(err).and_then(|pw| {
            if pw.is_empty() {
                return Err("empty password".to_string());
            }
            let phc = hash_password(&pw)?;
            Ok(match (&opts.name, opts.role) {
                (Some(n), Some(r)) => format!("user.{n} = {r} {phc}"),
                _ => phc,
            })
        })
    };
    match result {
        Ok(line) => {
            if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
                return 1;
            }
            0
        }
        Err(msg) => {
            let _ = writeln!(err, "luigid-rs hash-password: {msg}");
            1
        }
    }
}

fn make_token(opts: &Options, err: &mut dyn Write) -> Result<String, String> {
    let mut raw = [0u8; 32];
    random_bytes(&mut raw)?;
    let token: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    writeln!(
        err,
        "token (give it to the client; only its digest is stored): {token}"
    )
    .map_err(|e| format!("cannot show the token: {e}"))?;
    let digest = format!("sha256:{}", sha256_hex(token.as_bytes()));
    Ok(match (&opts.name, opts.role) {
        (Some(n), Some(r)) => format!("token.{n} = {r} {digest}"),
        _ => digest,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn args() {
        assert_eq!(parse_args(&[]), Ok(Options::default()));
        let o = parse_args(&s(&["--name", "ci", "--role=worker", "--token"])).unwrap();
        assert_eq!(o.name.as_deref(), Some("ci"));
        assert_eq!(o.role, Some(Role::Worker));
        assert!(o.token);
        assert!(parse_args(&s(&["--name", "ci"])).is_err());
        assert!(parse_args(&s(&["--role", "root", "--name", "x"])).is_err());
        assert!(parse_args(&s(&["--name", "a b", "--role", "admin"])).is_err());
        assert!(parse_args(&s(&["--bogus"])).is_err());
        assert!(parse_args(&s(&["--name"])).is_err());
    }

    #[test]
    fn line_prompt_strips_only_the_line_end() {
        let mut p = LinePrompt(&b" pw \r\nnext\n"[..]);
        assert_eq!(p.password(&mut Vec::new()).unwrap(), " pw ");
    }

    #[test]
    fn usage_errors_exit_2_and_help_0() {
        let mut out = Vec::new();
        let mut err = Vec::new();
        assert_eq!(
            hash_password_with(&s(&["--x"]), &mut &b""[..], &mut out, &mut err),
            2
        );
        assert!(String::from_utf8_lossy(&err).contains("usage:"));
        assert_eq!(
            hash_password_with(&s(&["--help"]), &mut &b""[..], &mut out, &mut err),
            0
        );
        assert!(out.is_empty());
    }

    #[test]
    fn empty_password_is_refused() {
        let mut out = Vec::new();
        let mut err = Vec::new();
        assert_eq!(
            hash_password_with(&[], &mut &b"\n"[..], &mut out, &mut err),
            1
        );
        assert!(out.is_empty());
    }
}
