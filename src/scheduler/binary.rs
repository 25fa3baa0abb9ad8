//! The scheduler state in a compact binary form (the body of version 3 snapshots),
//! written and read one task at a time: no intermediate tree of the whole state, and on
//! reading no temporary copy of a task's strings (ids, parameter texts and interned
//! strings are allocated once, in their final place).
//!
//! ```text
//! body    := varint meta_len, meta (JSON: workers, batchers, resources, counters)
//!            varint slots, varint live, task*live
//! task    := varint slot_gap, bytes id, u8 bits, u8 status, u8 flags, varint status_seq,
//!            f64 time, varint dep_rank, f64 updated, [f64 retry] [f64 remove]
//!            [f64 time_running] [varint worker_running], f64 prio,
//!            ids stakeholders, ids workers, deps, sref family, sref module,
//!            bytes params, sref visibilities, [bytes resources], rr, policy, [extra]
//! deps    := varint n, (varint slot+1 | 0 bytes id)*n     -- a dep that is a task is its slot
//! sref    := varint: 0 none, 1 new (bytes follow, next table index), k+2 table entry k
//! ```
//! Integers are LEB128 varints, floats 8 little-endian bytes, `bytes` a varint length
//! and UTF-8. A task with two parameters and one dependency takes about 120 bytes (its
//! JSON form took about 880). The file around the body (magic line, generation,
//! checksum) is `persistence::snapshot`'s.

use super::compact::{Deps, FastMap, Ids, Params, Pv};
use super::types::{OptF64, ResRun, RetryPolicy, Task, ALL_STATUSES};
use super::{Batcher, Scheduler, SchedulerConfig, Worker};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::{BTreeMap, VecDeque};
use std::io::{self, Read, Write};
use std::sync::Arc;

const RUNNABLE: u8 = 1;
const BATCHABLE: u8 = 2;
const HAS_RESOURCES: u8 = 4;
const HAS_EXTRA: u8 = 8;
const HAS_RETRY: u8 = 16;
const HAS_REMOVE: u8 = 32;
const HAS_TIME_RUNNING: u8 = 64;
const HAS_WORKER_RUNNING: u8 = 128;

/// Longest string or list the reader accepts: far above anything luigid-rs writes, and
/// low enough that a damaged length cannot ask for gigabytes.
const MAX_LEN: u64 = 256 << 20;

#[derive(Serialize)]
struct MetaOut<'a> {
    config: &'a SchedulerConfig,
    status_counter: u64,
    worker_names: &'a [String],
    workers: &'a [Option<Worker>],
    worker_counter: u64,
    batchers: &'a BTreeMap<String, BTreeMap<String, Batcher>>,
    resources: &'a [(String, Value)],
    paused: bool,
    message_counter: u64,
}

#[derive(Deserialize)]
struct MetaIn {
    config: SchedulerConfig,
    status_counter: u64,
    worker_names: Vec<String>,
    workers: Vec<Option<Worker>>,
    worker_counter: u64,
    batchers: BTreeMap<String, BTreeMap<String, Batcher>>,
    resources: Vec<(String, Value)>,
    paused: bool,
    message_counter: u64,
}

// ----- writing ---------------------------------------------------------------------

struct Out<'w, W: Write> {
    w: &'w mut W,
    /// By address: the scheduler interns these strings, so equal texts are one `Arc`
    /// (two copies of a text would only cost a second table entry).
    strs: FastMap<(usize, usize), u64>,
    policies: Vec<RetryPolicy>,
}

impl<W: Write> Out<'_, W> {
    fn varint(&mut self, mut v: u64) -> io::Result<()> {
        let mut buf = [0u8; 10];
        let mut n = 0;
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                buf[n] = b;
                n += 1;
                break;
            }
            buf[n] = b | 0x80;
            n += 1;
        }
        self.w.write_all(&buf[..n])
    }

    fn u8(&mut self, b: u8) -> io::Result<()> {
        self.w.write_all(&[b])
    }

    fn f64(&mut self, f: f64) -> io::Result<()> {
        self.w.write_all(&f.to_le_bytes())
    }

    fn opt_f64(&mut self, f: Option<f64>) -> io::Result<()> {
        match f {
            None => self.u8(0),
            Some(f) => {
                self.u8(1)?;
                self.f64(f)
            }
        }
    }

    fn bytes(&mut self, b: &[u8]) -> io::Result<()> {
        self.varint(b.len() as u64)?;
        self.w.write_all(b)
    }

    fn json(&mut self, v: &impl Serialize) -> io::Result<()> {
        let text = serde_json::to_vec(v).map_err(io::Error::other)?;
        self.bytes(&text)
    }

    /// A string through the table of repeated strings (families, modules, visibilities).
    fn sref(&mut self, s: Option<&Arc<str>>) -> io::Result<()> {
        let Some(s) = s else {
            return self.varint(0);
        };
        let key = (Arc::as_ptr(s) as *const u8 as usize, s.len());
        if let Some(&k) = self.strs.get(&key) {
            return self.varint(k + 2);
        }
        let k = self.strs.len() as u64;
        self.strs.insert(key, k);
        self.varint(1)?;
        self.bytes(s.as_bytes())
    }

    fn ids(&mut self, ids: &Ids) -> io::Result<()> {
        self.varint(ids.len() as u64)?;
        for &i in ids.iter() {
            self.varint(i as u64)?;
        }
        Ok(())
    }

    fn pv(&mut self, v: &Pv) -> io::Result<()> {
        match v {
            Pv::Null => self.u8(0),
            Pv::Bool(false) => self.u8(1),
            Pv::Bool(true) => self.u8(2),
            Pv::Int(i) => {
                self.u8(3)?;
                self.w.write_all(&i.to_le_bytes())
            }
            Pv::Str(s) => {
                self.u8(4)?;
                self.bytes(s.as_bytes())
            }
            Pv::Other(v) => {
                self.u8(5)?;
                self.json(v)
            }
        }
    }

    fn policy(&mut self, p: &RetryPolicy) -> io::Result<()> {
        if let Some(k) = self.policies.iter().position(|q| q == p) {
            return self.varint(k as u64 + 1);
        }
        self.policies.push(*p);
        self.varint(0)?;
        self.f64(p.retry_count)?;
        self.f64(p.disable_hard_timeout)?;
        self.f64(p.disable_window)
    }
}

/// Write `s` in the binary form (see the module doc).
pub fn encode(s: &Scheduler, w: &mut impl Write) -> io::Result<()> {
    let mut o = Out {
        w,
        strs: FastMap::default(),
        policies: Vec::new(),
    };
    o.json(&MetaOut {
        config: &s.config,
        status_counter: s.status_counter,
        worker_names: &s.worker_names,
        workers: &s.workers,
        worker_counter: s.worker_counter,
        batchers: &s.batchers,
        resources: &s.resources,
        paused: s.paused,
        message_counter: s.message_counter,
    })?;
    o.varint(s.tasks.len() as u64)?;
    o.varint(s.tasks.iter().flatten().count() as u64)?;
    let mut next = 0u64;
    for (slot, t) in s.tasks.iter().enumerate() {
        let Some(t) = t else { continue };
        o.varint(slot as u64 - next)?;
        next = slot as u64 + 1;
        task(&mut o, s, t)?;
    }
    Ok(())
}

fn task<W: Write>(o: &mut Out<W>, s: &Scheduler, t: &Task) -> io::Result<()> {
    let mut bits = 0;
    for (on, bit) in [
        (t.runnable, RUNNABLE),
        (t.batchable, BATCHABLE),
        (t.resources.is_some(), HAS_RESOURCES),
        (t.extra.is_some(), HAS_EXTRA),
        (t.retry.is_some(), HAS_RETRY),
        (t.remove.is_some(), HAS_REMOVE),
        (t.time_running.is_some(), HAS_TIME_RUNNING),
        (t.worker_running.is_some(), HAS_WORKER_RUNNING),
    ] {
        if on {
            bits |= bit;
        }
    }
    o.bytes(t.id.as_bytes())?;
    o.u8(bits)?;
    o.u8(t.status.index() as u8)?;
    o.u8(t.raw_flags())?;
    o.varint(t.status_seq)?;
    o.f64(t.time)?;
    o.varint(t.dep_rank as u64)?;
    o.f64(t.updated)?;
    for f in [t.retry, t.remove, t.time_running] {
        if let Some(f) = f.get() {
            o.f64(f)?;
        }
    }
    if let Some(w) = t.worker_running {
        o.varint(w as u64)?;
    }
    o.f64(t.prio)?;
    o.ids(&t.stakeholders)?;
    o.ids(&t.workers)?;
    o.varint(t.deps.len() as u64)?;
    for d in t.deps.iter() {
        match s.slot_of(d) {
            Some(slot) => o.varint(slot as u64 + 1)?,
            None => {
                o.varint(0)?;
                o.bytes(d.as_bytes())?;
            }
        }
    }
    o.sref(Some(&t.family))?;
    o.sref(t.raw_module())?;
    let params = if t.params.is_empty() {
        ""
    } else {
        t.params.text()
    };
    o.bytes(params.as_bytes())?;
    o.sref(t.param_visibilities.as_ref())?;
    if let Some(r) = &t.resources {
        o.json(r)?;
    }
    match &t.rr {
        ResRun::None => o.u8(0)?,
        ResRun::Alias => o.u8(1)?,
        ResRun::Empty => o.u8(2)?,
        ResRun::Own(m) => {
            o.u8(3)?;
            o.json(m)?;
        }
    }
    o.policy(&t.retry_policy)?;
    if let Some(x) = &t.extra {
        for v in [
            &x.priority,
            &x.module,
            &x.expl,
            &x.accepts_messages,
            &x.tracking_url,
            &x.status_message,
            &x.progress_percentage,
        ] {
            o.pv(v)?;
        }
        match &x.public_params {
            None => o.u8(0)?,
            Some(p) => {
                o.u8(1)?;
                o.bytes(p.text().as_bytes())?;
            }
        }
        o.varint(x.failures.len() as u64)?;
        for &f in &x.failures {
            o.f64(f)?;
        }
        o.opt_f64(x.first_failure_time)?;
        match &x.scheduler_message_responses {
            None => o.u8(0)?,
            Some(m) => {
                o.u8(1)?;
                o.json(m)?;
            }
        }
        o.opt_f64(x.scheduler_disable_time)?;
        match &x.batch_id {
            None => o.u8(0)?,
            Some(b) => {
                o.u8(1)?;
                o.bytes(b.as_bytes())?;
            }
        }
    }
    Ok(())
}

// ----- reading ---------------------------------------------------------------------

/// Why a body could not be read; `at` counts the body's bytes read before the fault.
#[derive(Debug)]
pub struct DecodeError {
    pub at: u64,
    pub what: String,
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (at byte {} of the state)", self.what, self.at)
    }
}

impl std::error::Error for DecodeError {}

/// The reader: its own buffer, so that the many one-byte reads of a record cost an
/// index and a compare, not a call through the `Read` layers.
struct In<'r, R: Read> {
    r: &'r mut R,
    buf: Box<[u8]>,
    pos: usize,
    end: usize,
    /// Bytes of the input before `buf[0]`.
    base: u64,
    scratch: Vec<u8>,
    strs: Vec<Arc<str>>,
    policies: Vec<Arc<RetryPolicy>>,
}

type Res<T> = Result<T, DecodeError>;

impl<R: Read> In<'_, R> {
    fn at(&self) -> u64 {
        self.base + self.pos as u64
    }

    fn fail<T>(&self, what: impl Into<String>) -> Res<T> {
        Err(DecodeError {
            at: self.at(),
            what: what.into(),
        })
    }

    /// Read more into the buffer; false at the end of the input.
    fn refill(&mut self) -> Res<bool> {
        self.base += self.end as u64;
        self.pos = 0;
        self.end = 0;
        loop {
            match self.r.read(&mut self.buf) {
                Ok(n) => {
                    self.end = n;
                    return Ok(n > 0);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return self.fail(e.to_string()),
            }
        }
    }

    fn fill(&mut self, out: &mut [u8]) -> Res<()> {
        let mut done = 0;
        while done < out.len() {
            if self.pos == self.end && !self.refill()? {
                return self.fail("the state ends early");
            }
            let n = (self.end - self.pos).min(out.len() - done);
            out[done..done + n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
            self.pos += n;
            done += n;
        }
        Ok(())
    }

    #[inline]
    fn u8(&mut self) -> Res<u8> {
        if self.pos == self.end && !self.refill()? {
            return self.fail("the state ends early");
        }
        let b = self.buf[self.pos];
        self.pos += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Res<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= ((b & 0x7f) as u64) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        self.fail("an integer longer than 64 bits")
    }

    fn len(&mut self) -> Res<usize> {
        let n = self.varint()?;
        if n > MAX_LEN {
            return self.fail(format!("a length of {n}"));
        }
        Ok(n as usize)
    }

    fn u32(&mut self, what: &str) -> Res<u32> {
        let v = self.varint()?;
        u32::try_from(v).or_else(|_| self.fail(format!("{what} {v} out of range")))
    }

    fn f64(&mut self) -> Res<f64> {
        let mut b = [0u8; 8];
        self.fill(&mut b)?;
        Ok(f64::from_le_bytes(b))
    }

    fn opt_f64(&mut self) -> Res<Option<f64>> {
        match self.u8()? {
            0 => Ok(None),
            1 => self.f64().map(Some),
            t => self.fail(format!("an optional number tagged {t}")),
        }
    }

    /// The next string, in `self.scratch`.
    fn text(&mut self) -> Res<&str> {
        let n = self.len()?;
        let mut buf = std::mem::take(&mut self.scratch);
        buf.resize(n, 0);
        let r = self.fill(&mut buf);
        self.scratch = buf;
        r?;
        let at = self.at();
        std::str::from_utf8(&self.scratch).map_err(|_| DecodeError {
            at,
            what: "a string that is not UTF-8".into(),
        })
    }

    fn arc(&mut self) -> Res<Arc<str>> {
        self.text().map(Arc::from)
    }

    fn json<T: serde::de::DeserializeOwned>(&mut self) -> Res<T> {
        let at = self.at();
        let text = self.text()?;
        serde_json::from_str(text).map_err(|e| DecodeError {
            at,
            what: format!("unreadable JSON ({e})"),
        })
    }

    fn sref(&mut self) -> Res<Option<Arc<str>>> {
        match self.varint()? {
            0 => Ok(None),
            1 => {
                let s = self.arc()?;
                self.strs.push(s.clone());
                Ok(Some(s))
            }
            k => match self.strs.get((k - 2) as usize) {
                Some(s) => Ok(Some(s.clone())),
                None => self.fail(format!("string reference {k} before its string")),
            },
        }
    }

    fn ids(&mut self) -> Res<Ids> {
        let n = self.len()?;
        let mut ids = Ids::default();
        for _ in 0..n {
            ids.push(self.u32("a worker number")?);
        }
        Ok(ids)
    }

    fn pv(&mut self) -> Res<Pv> {
        Ok(match self.u8()? {
            0 => Pv::Null,
            1 => Pv::Bool(false),
            2 => Pv::Bool(true),
            3 => {
                let mut b = [0u8; 8];
                self.fill(&mut b)?;
                Pv::Int(i64::from_le_bytes(b))
            }
            4 => Pv::Str(self.arc()?),
            5 => Pv::from_value(self.json()?),
            t => return self.fail(format!("a value tagged {t}")),
        })
    }

    fn policy(&mut self) -> Res<Arc<RetryPolicy>> {
        match self.varint()? {
            0 => {
                let p = Arc::new(RetryPolicy {
                    retry_count: self.f64()?,
                    disable_hard_timeout: self.f64()?,
                    disable_window: self.f64()?,
                });
                self.policies.push(p.clone());
                Ok(p)
            }
            k => match self.policies.get((k - 1) as usize) {
                Some(p) => Ok(p.clone()),
                None => self.fail(format!("retry policy {k} before its definition")),
            },
        }
    }
}

/// The dependencies of every task as read, resolved once every id is known (a
/// dependency may be a task written later): for each task with deps, its slot and its
/// count; then, in `refs`, each dep's slot, or `NOT_A_TASK - k` for `ids[k]`, an id that
/// is no task. Flat, so reading a million tasks allocates nothing per task here.
#[derive(Default)]
struct PendingDeps {
    tasks: Vec<(u32, u32)>,
    refs: Vec<u32>,
    ids: Vec<Arc<str>>,
}

const NOT_A_TASK: u32 = u32::MAX;

/// Read a body written by [`encode`]: `r` must end where the body ends. As after serde,
/// call [`Scheduler::rebuild_indexes`] (once any config is applied) before use.
pub fn decode(r: &mut impl Read) -> Result<Scheduler, DecodeError> {
    let mut i = In {
        r,
        buf: vec![0u8; 64 << 10].into_boxed_slice(),
        pos: 0,
        end: 0,
        base: 0,
        scratch: Vec::new(),
        strs: Vec::new(),
        policies: Vec::new(),
    };
    let meta: MetaIn = i.json()?;
    let slots = i.varint()?;
    let live = i.varint()?;
    if slots > u32::MAX as u64 || live > slots {
        return i.fail(format!("{live} tasks in {slots} slots"));
    }
    let mut tasks: Vec<Option<Box<Task>>> = Vec::with_capacity((slots as usize).min(1 << 24));
    let mut deps = PendingDeps::default();
    for _ in 0..live {
        let gap = i.varint()?;
        let slot = tasks.len() as u64 + gap;
        if slot >= slots {
            return i.fail(format!("a task in slot {slot} of {slots}"));
        }
        tasks.resize_with(slot as usize, || None);
        let t = read_task(&mut i, slot as u32, &mut deps)?;
        tasks.push(Some(Box::new(t)));
    }
    tasks.resize_with(slots as usize, || None);
    if i.pos < i.end || i.refill()? {
        return i.fail("bytes after the last task");
    }
    let mut refs = deps.refs.iter();
    let mut ids = Vec::new();
    for &(slot, n) in &deps.tasks {
        ids.clear();
        for &r in refs.by_ref().take(n as usize) {
            let id = if r > NOT_A_TASK - deps.ids.len() as u32 {
                deps.ids[(NOT_A_TASK - r) as usize].clone()
            } else {
                match tasks.get(r as usize) {
                    Some(Some(t)) => t.id.clone(),
                    _ => return i.fail(format!("a dependency on empty slot {r}")),
                }
            };
            ids.push(id);
        }
        let d = if ids.len() == 1 {
            Deps::One(ids[0].clone())
        } else {
            Deps::from_sorted(ids.clone())
        };
        if let Some(Some(t)) = tasks.get_mut(slot as usize) {
            t.deps = d;
        }
    }
    let s = Scheduler {
        config: meta.config,
        tasks,
        status_counter: meta.status_counter,
        worker_names: meta.worker_names,
        workers: meta.workers,
        worker_counter: meta.worker_counter,
        batchers: meta.batchers,
        resources: meta.resources,
        paused: meta.paused,
        message_counter: meta.message_counter,
        ix: Default::default(),
        events: Vec::new(),
        prunes_held: false,
        running_memo: Default::default(),
        tasks_version: Default::default(),
    };
    Ok(s)
}

fn read_task<R: Read>(i: &mut In<R>, slot: u32, pending: &mut PendingDeps) -> Res<Task> {
    let id = i.arc()?;
    let bits = i.u8()?;
    let status = i.u8()?;
    let Some(&status) = ALL_STATUSES.get(status as usize) else {
        return i.fail(format!("status {status}"));
    };
    let flags = i.u8()?;
    let status_seq = i.varint()?;
    let time = i.f64()?;
    let dep_rank = i.varint()?;
    let Ok(dep_rank) = u16::try_from(dep_rank) else {
        return i.fail(format!("dependency rank {dep_rank}"));
    };
    let updated = i.f64()?;
    let opt = |bit: u8, i: &mut In<R>| -> Res<OptF64> {
        Ok(if bits & bit != 0 {
            OptF64::from(Some(i.f64()?))
        } else {
            OptF64::NONE
        })
    };
    let retry = opt(HAS_RETRY, i)?;
    let remove = opt(HAS_REMOVE, i)?;
    let time_running = opt(HAS_TIME_RUNNING, i)?;
    let worker_running = if bits & HAS_WORKER_RUNNING != 0 {
        Some(i.u32("a worker number")?)
    } else {
        None
    };
    let prio = i.f64()?;
    let stakeholders = i.ids()?;
    let workers = i.ids()?;
    let n = i.len()?;
    if n > 0 {
        pending.tasks.push((slot, n as u32));
    }
    for _ in 0..n {
        let r = match i.u32("a dependency slot")? {
            0 => {
                pending.ids.push(i.arc()?);
                NOT_A_TASK - (pending.ids.len() as u32 - 1)
            }
            s => s - 1,
        };
        pending.refs.push(r);
    }
    let Some(family) = i.sref()? else {
        return i.fail("a task without a family");
    };
    let module = i.sref()?;
    let params = Params::from_text(i.text()?);
    let vis = i.sref()?;
    let resources: Option<Box<Map<String, Value>>> = if bits & HAS_RESOURCES != 0 {
        Some(Box::new(i.json()?))
    } else {
        None
    };
    let rr = match i.u8()? {
        0 => ResRun::None,
        1 => ResRun::Alias,
        2 => ResRun::Empty,
        3 => ResRun::Own(Box::new(i.json()?)),
        k => return i.fail(format!("resources_running tagged {k}")),
    };
    let policy = i.policy()?;
    let mut t = Task::new(id, family, policy, time);
    t.stakeholders = stakeholders;
    t.workers = workers;
    t.status = status;
    t.runnable = bits & RUNNABLE != 0;
    t.batchable = bits & BATCHABLE != 0;
    t.worker_running = worker_running;
    t.status_seq = status_seq;
    t.dep_rank = dep_rank;
    t.updated = updated;
    t.prio = prio;
    t.retry = retry;
    t.remove = remove;
    t.time_running = time_running;
    t.set_raw(flags, module);
    t.params = params;
    t.param_visibilities = vis;
    t.resources = resources;
    t.rr = rr;
    if bits & HAS_EXTRA != 0 {
        t.extra = Some(Box::new(read_extra(i)?));
    }
    Ok(t)
}

fn read_extra<R: Read>(i: &mut In<R>) -> Res<super::types::Extra> {
    let priority = i.pv()?;
    let module = i.pv()?;
    let expl = i.pv()?;
    let accepts_messages = i.pv()?;
    let tracking_url = i.pv()?;
    let status_message = i.pv()?;
    let progress_percentage = i.pv()?;
    let public_params = match i.u8()? {
        0 => None,
        _ => Some(Params::from_text(i.text()?)),
    };
    let n = i.len()?;
    let mut failures = VecDeque::with_capacity(n.min(1024));
    for _ in 0..n {
        failures.push_back(i.f64()?);
    }
    let first_failure_time = i.opt_f64()?;
    let scheduler_message_responses = match i.u8()? {
        0 => None,
        _ => Some(i.json()?),
    };
    let scheduler_disable_time = i.opt_f64()?;
    let batch_id = match i.u8()? {
        0 => None,
        _ => Some(i.text()?.to_string()),
    };
    Ok(super::types::Extra {
        priority,
        module,
        expl,
        accepts_messages,
        tracking_url,
        status_message,
        progress_percentage,
        public_params,
        failures,
        first_failure_time,
        scheduler_message_responses,
        scheduler_disable_time,
        batch_id,
    })
}
