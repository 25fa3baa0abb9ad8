//! Size: Luigi's quadratic-behaviour and get_work-speed cases, at sizes a debug build
//! finishes in seconds. They check the answers; a quadratic scheduler shows up as a hang.

use super::common::*;

#[test]
fn many_workers_each_get_their_own_task() {
    let mut t = T::new();
    let n = 3000;
    for i in 0..n {
        let id = i.to_string();
        t.add(&id, &id, json!({"resources": {}}));
    }
    for i in 0..n {
        let id = i.to_string();
        assert_eq!(t.work(&id).as_deref(), Some(id.as_str()));
        t.set(&id, &id, "DONE");
    }
}

#[test]
fn pending_found_among_many_done() {
    let mut t = T::new();
    let pending = 300;
    for i in 0..pending {
        t.add(W, &i.to_string(), json!({"resources": {}}));
    }
    for i in pending..30_000 {
        t.set(W, &i.to_string(), "DONE");
    }
    let mut seen = BTreeSet::new();
    for _ in 0..pending {
        let id = t.work(W).unwrap_or_default();
        let n: usize = id.parse().unwrap_or(usize::MAX);
        assert!(n < pending, "handed out {id:?}");
        assert!(seen.insert(n), "handed out {n} twice");
        t.set(W, &id, "DONE");
    }
    assert_eq!(t.work(W), None);
}
