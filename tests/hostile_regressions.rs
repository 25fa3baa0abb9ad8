//! The fuzz checks of fuzz/checks/{rpc_args,config,snapshot,journal,pickle}.rs run as plain
//! tests on their seeds (fuzz/seeds/<target>/) and on every input a fuzzer found
//! (tests/hostile_regressions/<target>/), so a finding stays fixed without cargo-fuzz.
use std::path::Path;

#[path = "../fuzz/checks/rpc_args.rs"]
mod rpc_args;

#[path = "../fuzz/checks/config.rs"]
mod config;

#[path = "../fuzz/checks/snapshot.rs"]
mod snapshot;

#[path = "../fuzz/checks/journal.rs"]
mod journal;

#[path = "../fuzz/checks/pickle.rs"]
mod pickle;

/// Every file in the seed and regression folders of `target`.
fn inputs(target: &str) -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    for dir in [
        root.join("fuzz/seeds").join(target),
        root.join("tests/hostile_regressions").join(target),
    ] {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        let mut paths: Vec<_> = entries.filter_map(Result::ok).map(|e| e.path()).collect();
        paths.sort();
        for p in paths {
            out.push(std::fs::read(&p).expect("read input"));
        }
    }
    out
}

#[test]
fn rpc_args_seeds_and_findings() {
    let all = inputs("rpc_args");
    assert!(!all.is_empty());
    for data in all {
        rpc_args::check(&data);
    }
}

#[test]
fn rpc_args_every_method_with_every_palette_value() {
    // Method selector k, mode 0x7f (every argument from the palette), one palette byte per
    // argument: 41 selectors x 40 values reach every (method, argument, value) triple.
    for sel in 0u8..41 {
        for v in 0u8..40 {
            let mut data = vec![sel, 0x7f];
            data.extend(std::iter::repeat_n(v, 20));
            rpc_args::check(&data);
        }
    }
}

#[test]
fn config_seeds_and_findings() {
    for data in inputs("config") {
        config::check(&data);
    }
    for text in [
        "[a]\nb",
        "x = 1\n",
        "[a]\nb = %(missing)s\n",
        "[a]\nb = %(b)s\n",
        "[luigid_rs]\nheader_timeout = nan\n",
        "[luigid_rs]\nmax_connections = 99999999999999999999\n",
        "[resources]\ncpu = -1\n",
        "a = 1\n[a]\n[a]\n",
        "[scheduler]\nretry_delay = inf\n",
    ] {
        config::check(text.as_bytes());
    }
}

#[test]
fn snapshot_seeds_and_findings() {
    let all = inputs("snapshot");
    assert!(!all.is_empty());
    for data in all {
        snapshot::check(&data);
    }
    for text in [
        "",
        "\u{80}",
        "{}",
        "null",
        "{\"format\": \"luigid-rs-state\", \"version\": 99, \"journal_gen\": 0, \"state\": {}}",
        "{\"format\": \"luigid-rs-state\", \"version\": 1, \"journal_gen\": -1, \"state\": {}}",
    ] {
        snapshot::check(text.as_bytes());
    }
}

#[test]
fn journal_seeds_and_findings() {
    let all = inputs("journal");
    assert!(!all.is_empty());
    for data in all {
        journal::check(&data);
    }
    for data in [
        &b""[..],
        b"{\"m\": \"add_task\", \"a\": {\"task_id\": 1}, \"t\": 1}",
        b"{\"m\": \"pause\", \"a\": {}, \"t\": 1e308}\x1e{\"m\": \"x\", \"a\": [], \"t\": 1}",
    ] {
        journal::check(data);
    }
}

#[test]
fn pickle_seeds_and_findings() {
    let all = inputs("pickle");
    assert!(!all.is_empty());
    for data in &all {
        pickle::check(data);
        // Every prefix (truncation anywhere) of the seeds.
        for n in (0..data.len()).step_by(7) {
            pickle::check(&data[..n]);
        }
    }
    for bytes in [
        &b""[..],
        b"\x80",
        b"\x80\x05\x95\xff\xff\xff\xff\xff\xff\xff\xff.",
        b"\x80\x04\x8d\xff\xff\xff\xff\xff\xff\xff\xff",
        b"\x80\x02c__builtin__\neval\n.",
        b"\x80\x04)}\x87.",
        b"\x80\x04}}}\x87.",
    ] {
        pickle::check(bytes);
    }
}
