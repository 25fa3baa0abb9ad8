//! A hashed timer wheel: O(1) insert and cancel, expiry in deadline order.
//!
//! Time is in milliseconds on a monotonic clock chosen by the caller. Deadlines are
//! rounded up to whole ticks, so a timer never fires early and at most one tick late.
//! Timers further away than one rotation share a slot with nearer ones and are skipped
//! until their turn; an occupancy bitmap finds the next non-empty slot quickly.

const SLOTS: usize = 1024;
const MASK: u64 = SLOTS as u64 - 1;
const NIL: u32 = u32::MAX;

/// Handle for [`TimerWheel::cancel`]. Stale handles (fired or cancelled timers) are
/// recognised by their generation and ignored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimerId {
    idx: u32,
    gen: u32,
}

#[derive(Debug)]
struct Node<T> {
    value: Option<T>,
    deadline: u64,
    tick: u64,
    seq: u64,
    gen: u32,
    prev: u32,
    next: u32,
}

#[derive(Debug)]
pub struct TimerWheel<T> {
    tick_ms: u64,
    /// Every tick up to and including this one has been expired.
    done_tick: u64,
    heads: Vec<u32>,
    occupied: Vec<u64>,
    nodes: Vec<Node<T>>,
    free: Vec<u32>,
    seq: u64,
    len: usize,
}

impl<T> TimerWheel<T> {
    /// A wheel whose clock starts at `now_ms`, with `tick_ms` resolution.
    pub fn new(now_ms: u64, tick_ms: u64) -> TimerWheel<T> {
        let tick_ms = tick_ms.max(1);
        TimerWheel {
            tick_ms,
            done_tick: now_ms / tick_ms,
            heads: vec![NIL; SLOTS],
            occupied: vec![0; SLOTS / 64],
            nodes: Vec::new(),
            free: Vec::new(),
            seq: 0,
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Schedule `value` for `deadline_ms`. A deadline in the past fires on the next advance.
    pub fn insert(&mut self, deadline_ms: u64, value: T) -> TimerId {
        let tick = deadline_ms.div_ceil(self.tick_ms).max(self.done_tick + 1);
        let slot = (tick & MASK) as usize;
        self.seq += 1;
        let head = self.heads[slot];
        let node = Node {
            value: Some(value),
            deadline: deadline_ms,
            tick,
            seq: self.seq,
            gen: 0,
            prev: NIL,
            next: head,
        };
        let idx = match self.free.pop() {
            Some(i) => {
                let gen = self.nodes[i as usize].gen.wrapping_add(1);
                self.nodes[i as usize] = Node { gen, ..node };
                i
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        };
        if head != NIL {
            self.nodes[head as usize].prev = idx;
        }
        self.heads[slot] = idx;
        self.occupied[slot / 64] |= 1 << (slot % 64);
        self.len += 1;
        TimerId {
            idx,
            gen: self.nodes[idx as usize].gen,
        }
    }

    /// Remove a pending timer; `None` when it already fired or was cancelled.
    pub fn cancel(&mut self, id: TimerId) -> Option<T> {
        let node = self.nodes.get(id.idx as usize)?;
        if node.gen != id.gen || node.value.is_none() {
            return None;
        }
        Some(self.unlink(id.idx))
    }

    fn unlink(&mut self, idx: u32) -> T {
        let (prev, next, slot) = {
            let n = &self.nodes[idx as usize];
            (n.prev, n.next, (n.tick & MASK) as usize)
        };
        if prev == NIL {
            self.heads[slot] = next;
            if next == NIL {
                self.occupied[slot / 64] &= !(1 << (slot % 64));
            }
        } else {
            self.nodes[prev as usize].next = next;
        }
        if next != NIL {
            self.nodes[next as usize].prev = prev;
        }
        self.free.push(idx);
        self.len -= 1;
        let n = &mut self.nodes[idx as usize];
        n.prev = NIL;
        n.next = NIL;
        // Invariant: only linked nodes are unlinked, and linked nodes hold a value.
        n.value.take().unwrap_or_else(|| unreachable!())
    }

    /// Expire every timer whose deadline is at or before `now_ms`, appending the values to
    /// `out` in deadline order (insertion order among equal deadlines).
    pub fn advance(&mut self, now_ms: u64, out: &mut Vec<T>) {
        let target = now_ms / self.tick_ms;
        if target <= self.done_tick {
            return;
        }
        // Past one full rotation every slot has been visited once; look at each only once.
        let last = target.min(self.done_tick + SLOTS as u64);
        let mut due: Vec<(u64, u64, u32)> = Vec::new();
        let mut t = self.done_tick + 1;
        while t <= last {
            let slot = (t & MASK) as usize;
            if self.occupied[slot / 64] & (1 << (slot % 64)) != 0 {
                let mut i = self.heads[slot];
                while i != NIL {
                    let n = &self.nodes[i as usize];
                    if n.tick <= target {
                        due.push((n.deadline, n.seq, i));
                    }
                    i = n.next;
                }
            }
            t += 1;
        }
        self.done_tick = target;
        due.sort_unstable();
        for (_, _, i) in due {
            out.push(self.unlink(i));
        }
    }

    /// A lower bound of the next deadline (it may be a slot holding only timers of a later
    /// rotation, which costs an early wake-up and nothing else). `None` when empty.
    pub fn next_deadline(&self) -> Option<u64> {
        if self.len == 0 {
            return None;
        }
        let from = self.done_tick + 1;
        let start = (from & MASK) as usize;
        let mut idx = start;
        let mut scanned = 0;
        while scanned <= SLOTS {
            let bit = idx % 64;
            let w = self.occupied[idx / 64] >> bit;
            if w != 0 {
                let found = idx + w.trailing_zeros() as usize;
                let dist = (found + SLOTS - start) % SLOTS;
                return Some((from + dist as u64) * self.tick_ms);
            }
            let step = 64 - bit;
            scanned += step;
            idx = (idx + step) % SLOTS;
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fire(w: &mut TimerWheel<u32>, now: u64) -> Vec<u32> {
        let mut out = Vec::new();
        w.advance(now, &mut out);
        out
    }

    #[test]
    fn fires_in_deadline_order_never_early() {
        let mut w = TimerWheel::new(1_000, 10);
        for (d, v) in [(1_500, 5), (1_020, 2), (1_499, 4), (1_020, 3), (1_001, 1)] {
            w.insert(d, v);
        }
        assert_eq!(fire(&mut w, 1_009), Vec::<u32>::new());
        assert_eq!(fire(&mut w, 1_010), [1]);
        assert_eq!(fire(&mut w, 1_019), Vec::<u32>::new());
        assert_eq!(
            fire(&mut w, 2_000),
            [2, 3, 4, 5],
            "equal deadlines keep insertion order"
        );
        assert!(w.is_empty());
    }

    #[test]
    fn past_deadline_fires_on_next_advance() {
        let mut w = TimerWheel::new(5_000, 10);
        w.insert(100, 1);
        assert_eq!(fire(&mut w, 5_000), Vec::<u32>::new());
        assert_eq!(fire(&mut w, 5_010), [1]);
    }

    #[test]
    fn cancel_and_stale_ids() {
        let mut w = TimerWheel::new(0, 1);
        let a = w.insert(10, 1);
        let b = w.insert(10, 2);
        let c = w.insert(20, 3);
        assert_eq!(w.cancel(b), Some(2));
        assert_eq!(w.cancel(b), None);
        assert_eq!(w.len(), 2);
        assert_eq!(fire(&mut w, 10), [1]);
        assert_eq!(w.cancel(a), None, "fired timers cannot be cancelled");
        // The freed node is reused; the old id must not cancel the new timer.
        let d = w.insert(30, 4);
        assert_eq!(w.cancel(a), None);
        assert_eq!(w.cancel(b), None);
        assert_eq!(w.cancel(c), Some(3));
        assert_eq!(fire(&mut w, 100), [4]);
        assert_eq!(w.cancel(d), None);
    }

    #[test]
    fn cancel_middle_of_slot_list() {
        let mut w = TimerWheel::new(0, 1);
        let ids: Vec<_> = (0..5).map(|i| w.insert(7, i)).collect();
        assert_eq!(w.cancel(ids[2]), Some(2));
        assert_eq!(w.cancel(ids[4]), Some(4));
        assert_eq!(w.cancel(ids[0]), Some(0));
        assert_eq!(fire(&mut w, 7), [1, 3]);
        assert_eq!(w.next_deadline(), None);
    }

    #[test]
    fn wrap_around_rotations() {
        let mut w = TimerWheel::new(0, 1);
        // Same slot, different rotations.
        w.insert(5, 1);
        w.insert(5 + SLOTS as u64, 2);
        w.insert(5 + 3 * SLOTS as u64, 3);
        assert_eq!(fire(&mut w, 5), [1]);
        assert_eq!(fire(&mut w, 4 + SLOTS as u64), Vec::<u32>::new());
        assert_eq!(fire(&mut w, 5 + SLOTS as u64), [2]);
        // A jump of many rotations at once fires what is due and keeps the rest.
        w.insert(10 * SLOTS as u64, 4);
        assert_eq!(fire(&mut w, 9 * SLOTS as u64), [3]);
        assert_eq!(fire(&mut w, 10 * SLOTS as u64), [4]);
        // Ticks keep counting past many rotations.
        for round in 0..5u64 {
            let base = (20 + round) * SLOTS as u64;
            w.insert(base + 3, round as u32);
            assert_eq!(fire(&mut w, base + 2), Vec::<u32>::new());
            assert_eq!(fire(&mut w, base + 3), [round as u32]);
        }
    }

    #[test]
    fn next_deadline_is_a_lower_bound() {
        let mut w = TimerWheel::<u32>::new(0, 10);
        assert_eq!(w.next_deadline(), None);
        w.insert(95, 1);
        assert_eq!(w.next_deadline(), Some(100));
        let far = w.insert(100_000, 2);
        let n = w.next_deadline().unwrap();
        assert!(n <= 100);
        fire(&mut w, 100);
        let n = w.next_deadline().unwrap();
        assert!(n <= 100_000 && n > 100, "{n}");
        w.cancel(far);
        assert_eq!(w.next_deadline(), None);
        // Slot before the current position (wrapped search).
        let mut w = TimerWheel::<u32>::new(1_000 * 10, 10);
        w.insert(1_000 * 10 + (SLOTS as u64 - 1) * 10, 1);
        assert_eq!(
            w.next_deadline(),
            Some(1_000 * 10 + (SLOTS as u64 - 1) * 10)
        );
    }
}
