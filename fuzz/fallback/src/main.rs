//! Randomized driver for the fuzz checks, for machines where cargo-fuzz cannot run.
//! No coverage guidance: it mutates the seed inputs (and any libFuzzer corpus) with
//! byte flips, splices and HTTP-flavoured insertions, for a bounded time per check.
//! Usage: fallback SECONDS [CORPUS_DIR]

#[allow(dead_code, unused_imports)]
#[path = "../../../src/http/mod.rs"]
mod http;

#[path = "../../checks/forms.rs"]
mod forms;
#[path = "../../checks/framer.rs"]
mod framer;

use std::path::Path;
use std::time::{Duration, Instant};

type Check = fn(&[u8]);

/// xorshift64*: deterministic per run seed, good enough to pick mutations.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

const TOKENS: &[&[u8]] = &[
    b"\r\n",
    b"\n",
    b"\r\n\r\n",
    b"GET / HTTP/1.1\r\n",
    b"POST /api/x HTTP/1.1\r\n",
    b"HTTP/1.0",
    b"HTTP/2.0",
    b"Content-Length: ",
    b"Transfer-Encoding: chunked\r\n",
    b"Expect: 100-continue\r\n",
    b"0\r\n\r\n",
    b"ffffffffffffffff",
    b";ext=1",
    b"data=",
    b"%7B%7D",
    b"%FF",
    b"+",
    b"&",
    b"--B\r\n",
    b"--B--",
    b"Content-Disposition: form-data; name=\"data\"\r\n\r\n",
    b"Tue, 24 Nov 2026 08:00:00 GMT",
    b"\x00",
    b"\xff",
];

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>], input: &mut Vec<u8>) {
    for _ in 0..=rng.below(8) {
        let pos = rng.below(input.len() + 1);
        match rng.below(6) {
            0 if !input.is_empty() => {
                let i = rng.below(input.len());
                input[i] ^= 1 << rng.below(8);
            }
            1 if !input.is_empty() => {
                let i = rng.below(input.len());
                input[i] = rng.next() as u8;
            }
            2 if !input.is_empty() => {
                let end = (pos + rng.below(16)).min(input.len());
                input.drain(pos.min(end)..end);
            }
            3 => {
                let t = TOKENS[rng.below(TOKENS.len())];
                input.splice(pos..pos, t.iter().copied());
            }
            4 if !seeds.is_empty() => {
                let other = &seeds[rng.below(seeds.len())];
                let a = rng.below(other.len() + 1);
                let b = (a + rng.below(64)).min(other.len());
                input.splice(pos..pos, other[a..b].iter().copied());
            }
            _ => input.insert(pos, rng.next() as u8),
        }
    }
    input.truncate(4096);
}

fn load(dir: &Path, out: &mut Vec<Vec<u8>>) {
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if let Ok(bytes) = std::fs::read(e.path()) {
                out.push(bytes);
            }
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let secs: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(60);
    let corpus = args.get(2).map(String::as_str).unwrap_or("corpus");
    let here = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let checks: [(&str, Check); 2] = [("framer", framer::check), ("forms", forms::check)];
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ u64::from(std::process::id()));
    for (name, check) in checks {
        let mut seeds = Vec::new();
        load(&here.join("seeds").join(name), &mut seeds);
        load(&Path::new(corpus).join(name), &mut seeds);
        if seeds.is_empty() {
            seeds.push(Vec::new());
        }
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut runs = 0u64;
        while Instant::now() < deadline {
            for _ in 0..256 {
                let mut input = seeds[rng.below(seeds.len())].clone();
                mutate(&mut rng, &seeds, &mut input);
                let result = std::panic::catch_unwind(|| check(&input));
                if result.is_err() {
                    let dir = here.join("artifacts").join(name);
                    let _ = std::fs::create_dir_all(&dir);
                    let path = dir.join(format!("crash-{runs}"));
                    let _ = std::fs::write(&path, &input);
                    eprintln!("{name}: check failed; input saved to {}", path.display());
                    std::process::exit(1);
                }
                runs += 1;
            }
        }
        println!("{name}: {runs} randomized runs in {secs}s, no failure");
    }
}
