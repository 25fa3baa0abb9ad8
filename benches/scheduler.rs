//! Criterion micro-benchmarks of the scheduler alone, through `api::call` as the server
//! calls it (arguments made outside the timed part): add_task, get_work, task_list, dep_graph and prune at 1k..1M tasks.
//! Under `cargo test` (no `--bench`) only the 1k size runs, once, as a smoke test.

#[path = "common/mod.rs"]
mod common;

use common::workload as wl;
use criterion::{BatchSize, BenchmarkId, Criterion};
use luigid_rs::api::{self, Args, Reply};
use luigid_rs::scheduler::{Scheduler, SchedulerConfig};
use serde_json::{json, Map, Value};
use std::hint::black_box;
use std::time::{Duration, Instant};

const NOW: f64 = 1_764_000_000.0;

static FAILED_CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The call with its arguments made beforehand (untimed where it matters).
fn call_prepared(s: &mut Scheduler, method: &str, args: Args<'static>, now: f64) -> Reply {
    match api::call(s, method, args, now) {
        Ok(r) => r,
        Err(e) => {
            // Counted and reported once: a failing call times an error path, not the work.
            if FAILED_CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) == 0 {
                eprintln!("scheduler bench: {method} failed: {e}");
            }
            Reply::null()
        }
    }
}

fn call(s: &mut Scheduler, method: &str, args: &Map<String, Value>, now: f64) -> Value {
    call_prepared(s, method, Args::from_map(args.clone()), now).into_value()
}

fn args_of(m: &Map<String, Value>) -> Args<'static> {
    Args::from_map(m.clone())
}

/// Which of the benchmarked methods the scheduler answers without error; a failing
/// call would time an error path, so those benchmarks are skipped with a message.
fn supported(worker: &str) -> Vec<&'static str> {
    let mut s = Scheduler::new(SchedulerConfig::default());
    let mut ok = Vec::new();
    let add = wl::add_task_args(worker, "BenchTask", 0, "PENDING", &[]);
    let mut dg = Map::new();
    dg.insert("task_id".into(), json!(wl::task_id("BenchTask", 0)));
    let probes: [(&'static str, Map<String, Value>); 5] = [
        ("add_task", add),
        ("get_work", wl::get_work_args(worker)),
        ("task_list", wl::task_list_args("PENDING")),
        ("dep_graph", dg),
        ("prune", Map::new()),
    ];
    for (m, args) in probes {
        match api::call(&mut s, m, Args::from_map(args), NOW) {
            Ok(_) => ok.push(m),
            Err(e) => eprintln!("scheduler bench: skipping {m}: {e}"),
        }
    }
    ok
}

/// A scheduler holding `n` PENDING tasks of one worker, shaped as a binary tree
/// (task i needs 2i+1 and 2i+2) so dep_graph of task 0 walks the whole graph.
fn loaded(n: usize) -> (Scheduler, String) {
    let mut s = Scheduler::new(SchedulerConfig::default());
    let worker = wl::worker_id(1);
    for i in 0..n {
        let deps: Vec<String> = [2 * i + 1, 2 * i + 2]
            .into_iter()
            .filter(|&d| d < n)
            .map(|d| wl::task_id("BenchTask", d))
            .collect();
        let args = wl::add_task_args(&worker, "BenchTask", i, "PENDING", &deps);
        call(&mut s, "add_task", &args, NOW);
    }
    (s, worker)
}

fn bench_size(c: &mut Criterion, n: usize, ok: &[&str]) {
    if !ok.contains(&"add_task") {
        return;
    }
    let t0 = Instant::now();
    let (mut s, worker) = loaded(n);
    eprintln!("setup: {n} tasks in {:.2} s", t0.elapsed().as_secs_f64());
    let big = n >= 1_000_000;

    let mut g = c.benchmark_group("scheduler");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(if big { 3 } else { 2 }));

    let on = |m: &str| ok.contains(&m);

    // get_work alone is timed; the task it hands out is then marked DONE and a fresh
    // leaf task added (untimed), so the pending count stays at n however long it runs.
    let gw = wl::get_work_args(&worker);
    let (mut calls, mut handed) = (0u64, 0u64);
    let mut fresh = 10 * n + 1_000_000;
    if on("get_work") {
        g.bench_function(BenchmarkId::new("get_work", n), |b| {
            b.iter_custom(|iters| {
                let mut spent = Duration::ZERO;
                for _ in 0..iters {
                    let args = args_of(&gw);
                    let t = Instant::now();
                    let r = black_box(call_prepared(&mut s, "get_work", args, NOW));
                    spent += t.elapsed();
                    let r = r.into_value();
                    calls += 1;
                    if let Some(id) = r.get("task_id").and_then(|v| v.as_str()) {
                        handed += 1;
                        call(&mut s, "add_task", &wl::done_args(&worker, id), NOW);
                    }
                    fresh += 1;
                    let add = wl::add_task_args(&worker, "BenchTask", fresh, "PENDING", &[]);
                    call(&mut s, "add_task", &add, NOW);
                }
                spent
            })
        });
    }

    if calls > 0 {
        eprintln!("get_work at {n}: {handed} of {calls} calls handed out a task");
    }
    let tl = wl::task_list_args("PENDING");
    // What task_list answers here: the listed tasks, or a count past max_shown_tasks.
    let shown = call(&mut s, "task_list", &tl, NOW);
    eprintln!(
        "task_list PENDING at {n}: {}",
        shown
            .as_object()
            .map_or("?".to_string(), |m| if m.contains_key("num_tasks") {
                format!("{} (count only)", m["num_tasks"])
            } else {
                format!("{} tasks listed", m.len())
            })
    );
    if on("task_list") {
        g.bench_function(BenchmarkId::new("task_list", n), |b| {
            b.iter_batched(
                || args_of(&tl),
                |args| black_box(call_prepared(&mut s, "task_list", args, NOW)),
                BatchSize::SmallInput,
            )
        });
    }

    if !big && on("dep_graph") {
        let mut dg = Map::new();
        dg.insert("task_id".into(), json!(wl::task_id("BenchTask", 0)));
        dg.insert("include_done".into(), json!(true));
        g.bench_function(BenchmarkId::new("dep_graph", n), |b| {
            b.iter_batched(
                || args_of(&dg),
                |args| black_box(call_prepared(&mut s, "dep_graph", args, NOW)),
                BatchSize::SmallInput,
            )
        });
    }

    // A periodic prune that finds nothing to remove: the steady-state cost.
    if on("prune") {
        g.bench_function(BenchmarkId::new("prune", n), |b| {
            b.iter(|| black_box(call_prepared(&mut s, "prune", Args::none(), NOW + 1.0)))
        });
    }
    // A new task with two parameters and one dependency, into a scheduler of n tasks.
    // Last: every iteration adds a task, so the scheduler grows past n from here on.
    let mut next = n;
    g.bench_function(BenchmarkId::new("add_task", n), |b| {
        b.iter_batched(
            || {
                next += 1;
                let dep = vec![wl::task_id("BenchTask", next % n.max(1))];
                Args::from_map(wl::add_task_args(
                    &worker,
                    "BenchTask",
                    next,
                    "PENDING",
                    &dep,
                ))
            },
            |args| black_box(call_prepared(&mut s, "add_task", args, NOW)),
            BatchSize::SmallInput,
        )
    });

    g.finish();
}

fn main() {
    let bench_mode = std::env::args().any(|a| a == "--bench");
    let mut c = Criterion::default().configure_from_args();
    let sizes: &[usize] = if !bench_mode {
        &[1_000]
    } else if std::env::var_os("BENCH_QUICK").is_some() {
        &[1_000, 10_000]
    } else {
        &[1_000, 10_000, 100_000, 1_000_000]
    };
    let ok = supported(&wl::worker_id(1));
    for &n in sizes {
        bench_size(&mut c, n, &ok);
    }
    c.final_summary();
    let failed = FAILED_CALLS.load(std::sync::atomic::Ordering::Relaxed);
    if failed > 0 {
        eprintln!("scheduler bench: {failed} calls failed (see the first above)");
    }
}
