//! From the objects of luigid's state pickle to the export shape that
//! `Scheduler::from_luigi_export` reads (luigid's own field names, JSON containers).
//!
//! luigid pickles `SimpleTaskState.get_state()` (luigi/scheduler.py): a tuple of the
//! tasks dict (id -> Task), the active workers dict (id -> Worker) and, since luigi 2.x,
//! the task batchers (worker -> family -> (batched args, max batch size)).

use serde_json::{json, Map, Value};

use super::vm::{Global, Id, Obj, Pickle};
use super::PickleError;

/// Nesting of plain values (params, worker info...): as deep as our JSON reader accepts
/// from a client, so whatever luigid was sent can come back.
pub const MAX_DEPTH: usize = 1000;

/// What the export holds, for the startup log line.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub tasks: usize,
    pub workers: usize,
    pub batchers: usize,
}

struct Reader<'a> {
    p: &'a Pickle,
    /// Values left to convert: shared sub-lists could otherwise make a small file
    /// expand exponentially.
    budget: std::cell::Cell<usize>,
}

fn shape(why: impl Into<String>) -> PickleError {
    PickleError::Shape(why.into())
}

impl<'a> Reader<'a> {
    fn obj(&self, id: Id) -> &'a Obj {
        // Ids come from the VM, which only makes valid ones.
        self.p.objs.get(id).unwrap_or(&Obj::None)
    }

    fn kind(&self, id: Id) -> &'static str {
        match self.obj(id) {
            Obj::None => "None",
            Obj::Bool(_) => "bool",
            Obj::Int(_) | Obj::BigInt(_) => "int",
            Obj::Float(_) => "float",
            Obj::Str(_) => "str",
            Obj::Bytes(_) => "bytes",
            Obj::List(_) => "list",
            Obj::Tuple(_) => "tuple",
            Obj::Dict(_) => "dict",
            Obj::Set(_) => "set",
            Obj::Deque(_) => "deque",
            Obj::Global(g) | Obj::Instance { class: g, .. } => g.name(),
        }
    }

    /// A plain Python value as JSON, the way our API carries it: NaN, infinities and
    /// integers beyond 64 bits as raw numbers (`crate::pyjson::raw_number`), tuples, sets
    /// and deques as lists.
    fn json(&self, id: Id, depth: usize) -> Result<Value, PickleError> {
        if depth > MAX_DEPTH {
            return Err(PickleError::Limit {
                offset: 0,
                what: "value nesting (or a value that contains itself)",
            });
        }
        let left = self.budget.get();
        if left == 0 {
            return Err(PickleError::Limit {
                offset: 0,
                what: "values (shared values expand beyond the file's size)",
            });
        }
        self.budget.set(left - 1);
        Ok(match self.obj(id) {
            Obj::None => Value::Null,
            Obj::Bool(b) => Value::Bool(*b),
            Obj::Int(i) => Value::from(*i),
            Obj::BigInt(digits) => crate::pyjson::raw_number(digits),
            Obj::Float(f) => float_value(*f),
            Obj::Str(s) => Value::String(s.clone()),
            Obj::Bytes(b) => Value::String(crate::pyjson::client_string(
                String::from_utf8_lossy(b).into_owned(),
            )),
            Obj::List(v) | Obj::Tuple(v) | Obj::Set(v) | Obj::Deque(v) => Value::Array(
                v.iter()
                    .map(|&i| self.json(i, depth + 1))
                    .collect::<Result<_, _>>()?,
            ),
            Obj::Dict(pairs) => {
                let mut m = Map::new();
                for &(k, v) in pairs {
                    m.insert(self.key(k)?, self.json(v, depth + 1)?);
                }
                Value::Object(m)
            }
            Obj::Global(_) | Obj::Instance { .. } => {
                return Err(shape(format!(
                    "a {} where a plain value was expected",
                    self.kind(id)
                )))
            }
        })
    }

    /// A dict key as JSON's string key (Python's json turns numbers into their text).
    fn key(&self, id: Id) -> Result<String, PickleError> {
        Ok(match self.obj(id) {
            Obj::Str(s) => s.clone(),
            Obj::Int(i) => i.to_string(),
            Obj::BigInt(d) => d.clone(),
            Obj::Bool(b) => if *b { "true" } else { "false" }.into(),
            Obj::None => "null".into(),
            _ => return Err(shape(format!("a dict key of type {}", self.kind(id)))),
        })
    }

    fn str(&self, id: Id) -> Option<&'a str> {
        match self.obj(id) {
            Obj::Str(s) => Some(s),
            _ => None,
        }
    }

    fn dict(&self, id: Id, what: &str) -> Result<&'a [(Id, Id)], PickleError> {
        match self.obj(id) {
            Obj::Dict(d) => Ok(d),
            _ => Err(shape(format!("{what} is a {}, not a dict", self.kind(id)))),
        }
    }

    /// The attributes of an instance of `class` (its `__dict__` as BUILD set it).
    fn attrs(&self, id: Id, class: Global) -> Result<Vec<(&'a str, Id)>, PickleError> {
        let Obj::Instance {
            class: c, state, ..
        } = self.obj(id)
        else {
            return Err(shape(format!(
                "a {} where a {} was expected",
                self.kind(id),
                class.name()
            )));
        };
        if *c != class {
            return Err(shape(format!(
                "a {} where a {} was expected",
                c.name(),
                class.name()
            )));
        }
        let Some(state) = state else {
            return Ok(Vec::new());
        };
        // A (dict, slots) pair when the class has slots; luigid's have none.
        let dict = match self.obj(*state) {
            Obj::Tuple(t) if t.len() == 2 => t[0],
            _ => *state,
        };
        let mut out = Vec::new();
        for &(k, v) in self.dict(dict, &format!("the state of a {}", class.name()))? {
            if let Some(k) = self.str(k) {
                out.push((k, v));
            }
        }
        Ok(out)
    }

    /// Items of a set, list, tuple or deque.
    fn items(&self, id: Id) -> Option<&'a [Id]> {
        match self.obj(id) {
            Obj::List(v) | Obj::Tuple(v) | Obj::Set(v) | Obj::Deque(v) => Some(v),
            _ => None,
        }
    }

    fn names(&self, id: Id, what: &str) -> Result<Vec<Value>, PickleError> {
        if matches!(self.obj(id), Obj::None) {
            return Ok(Vec::new());
        }
        let items = self
            .items(id)
            .ok_or_else(|| shape(format!("{what} is a {}", self.kind(id))))?;
        items
            .iter()
            .map(|&i| match self.str(i) {
                Some(s) => Ok(Value::String(s.to_string())),
                None => Err(shape(format!("{what} holds a {}", self.kind(i)))),
            })
            .collect()
    }

    /// luigi.scheduler.OrderedSet in its iteration order: the circular linked list under
    /// `end` (each node `[key, prev, next]`), else the `map` dict's order.
    fn ordered_set(&self, id: Id) -> Result<Vec<Value>, PickleError> {
        match self.obj(id) {
            Obj::Instance {
                class: Global::OrderedSet,
                ..
            } => {}
            // Older or hand-made states may hold a plain set or list.
            _ => return self.names(id, "task workers"),
        }
        let attrs = self.attrs(id, Global::OrderedSet)?;
        let get = |name: &str| attrs.iter().find(|(k, _)| *k == name).map(|&(_, v)| v);
        let by_map = || -> Result<Vec<Value>, PickleError> {
            let Some(m) = get("map") else {
                return Ok(Vec::new());
            };
            let mut out = Vec::new();
            for &(k, _) in self.dict(m, "an OrderedSet's map")? {
                out.push(Value::String(self.key(k)?));
            }
            Ok(out)
        };
        let Some(end) = get("end") else {
            return by_map();
        };
        let mut out = Vec::new();
        let mut cur = match self.items(end) {
            Some(e) if e.len() == 3 => e[2],
            _ => return by_map(),
        };
        // Each step visits a new node; a list longer than the arena is a broken cycle.
        for _ in 0..=self.p.objs.len() {
            if cur == end {
                return Ok(out);
            }
            match self.items(cur) {
                Some(node) if node.len() == 3 => {
                    out.push(Value::String(self.key(node[0])?));
                    cur = node[2];
                }
                _ => return by_map(),
            }
        }
        by_map()
    }

    fn task(&self, key: Id, id: Id) -> Result<Value, PickleError> {
        let attrs = self.attrs(id, Global::Task)?;
        let name = attrs
            .iter()
            .find(|(k, _)| *k == "id")
            .and_then(|&(_, v)| self.str(v))
            .or_else(|| self.str(key))
            .ok_or_else(|| shape("a task without an id"))?
            .to_string();
        let ctx = |e: PickleError| match e {
            PickleError::Shape(why) => PickleError::Shape(format!("task {name}: {why}")),
            other => other,
        };
        let mut out = Map::new();
        out.insert("id".into(), Value::String(name.clone()));
        let mut resources = None;
        let mut resources_running = None;
        for &(k, v) in &attrs {
            let value = match k {
                "id" => continue,
                "workers" => Value::Array(self.ordered_set(v).map_err(ctx)?),
                "stakeholders" | "deps" => {
                    let mut n = self.names(v, k).map_err(ctx)?;
                    n.sort_by(|a, b| a.as_str().cmp(&b.as_str()));
                    Value::Array(n)
                }
                "retry_policy" => self.retry_policy(v).map_err(ctx)?,
                "failures" => match self.obj(v) {
                    // luigi 2.x: a Failures object holding the deque and the first time.
                    Obj::Instance {
                        class: Global::Failures,
                        ..
                    } => {
                        for (fk, fv) in self.attrs(v, Global::Failures).map_err(ctx)? {
                            match fk {
                                "failures" => {
                                    out.insert(k.into(), self.json(fv, 1).map_err(ctx)?);
                                }
                                "first_failure_time" => {
                                    out.insert(fk.into(), self.json(fv, 1).map_err(ctx)?);
                                }
                                _ => {}
                            }
                        }
                        continue;
                    }
                    _ => self.json(v, 1).map_err(ctx)?,
                },
                "resources" => {
                    resources = Some(v);
                    self.json(v, 1).map_err(ctx)?
                }
                "resources_running" => {
                    resources_running = Some(v);
                    self.json(v, 1).map_err(ctx)?
                }
                // Derived from params and visibilities when the task is built.
                "public_params" | "hidden_params" => continue,
                _ => match self.json(v, 1) {
                    Ok(j) => j,
                    // An attribute we do not know, of a kind JSON cannot hold: luigid
                    // never reads it either.
                    Err(_) if !KNOWN_TASK_FIELDS.contains(&k) => continue,
                    Err(e) => return Err(ctx(e)),
                },
            };
            out.insert(k.to_string(), value);
        }
        // `task.resources_running = task.resources` (set_batch_running) shares one dict:
        // later changes to either show in both, so the alias is kept.
        if let (Some(r), Some(rr)) = (resources, resources_running) {
            if r == rr {
                out.insert("resources_running_is_resources".into(), Value::Bool(true));
            }
        }
        Ok(Value::Object(out))
    }

    fn retry_policy(&self, id: Id) -> Result<Value, PickleError> {
        let num = |v: Option<Id>| -> Result<Value, PickleError> {
            match v {
                Some(v) => self.json(v, 1),
                None => Ok(Value::Null),
            }
        };
        match self.obj(id) {
            Obj::None => Ok(Value::Null),
            Obj::Instance {
                class: Global::RetryPolicy,
                args,
                state,
            } => {
                // A namedtuple: its fields are the constructor's arguments.
                let (a, b, c) = if args.len() == 3 {
                    (Some(args[0]), Some(args[1]), Some(args[2]))
                } else if state.is_some() {
                    let attrs = self.attrs(id, Global::RetryPolicy)?;
                    let get = |n: &str| attrs.iter().find(|(k, _)| *k == n).map(|&(_, v)| v);
                    (
                        get("retry_count"),
                        get("disable_hard_timeout"),
                        get("disable_window"),
                    )
                } else {
                    return Err(shape("a RetryPolicy without its three fields"));
                };
                Ok(json!({
                    "retry_count": num(a)?,
                    "disable_hard_timeout": num(b)?,
                    "disable_window": num(c)?,
                }))
            }
            _ => Err(shape(format!("retry_policy is a {}", self.kind(id)))),
        }
    }

    fn worker(&self, key: Id, id: Id) -> Result<Value, PickleError> {
        let attrs = self.attrs(id, Global::Worker)?;
        let name = attrs
            .iter()
            .find(|(k, _)| *k == "id")
            .and_then(|&(_, v)| self.str(v))
            .or_else(|| self.str(key))
            .ok_or_else(|| shape("a worker without an id"))?
            .to_string();
        let mut out = Map::new();
        out.insert("id".into(), Value::String(name.clone()));
        for &(k, v) in &attrs {
            match k {
                // The worker's Task objects: derived from the tasks' workers here.
                "id" | "tasks" => continue,
                _ => match self.json(v, 1) {
                    Ok(j) => {
                        out.insert(k.to_string(), j);
                    }
                    Err(_) if !KNOWN_WORKER_FIELDS.contains(&k) => continue,
                    Err(e) => {
                        return Err(match e {
                            PickleError::Shape(why) => {
                                PickleError::Shape(format!("worker {name}: {why}"))
                            }
                            other => other,
                        })
                    }
                },
            }
        }
        Ok(Value::Object(out))
    }

    fn batchers(&self, id: Id) -> Result<(Value, usize), PickleError> {
        let mut out = Map::new();
        let mut n = 0;
        for &(worker, fams) in self.dict(id, "the task batchers")? {
            let mut m = Map::new();
            for &(family, spec) in self.dict(fams, "a worker's batchers")? {
                let parts = self
                    .items(spec)
                    .filter(|p| p.len() == 2)
                    .ok_or_else(|| shape("a batcher that is not (args, max size)"))?;
                let args = self.names(parts[0], "batched args")?;
                let max = self.json(parts[1], 1)?;
                m.insert(self.key(family)?, json!([args, max]));
                n += 1;
            }
            out.insert(self.key(worker)?, Value::Object(m));
        }
        Ok((Value::Object(out), n))
    }
}

const KNOWN_TASK_FIELDS: &[&str] = &[
    "status",
    "time",
    "updated",
    "retry",
    "remove",
    "worker_running",
    "time_running",
    "expl",
    "priority",
    "family",
    "module",
    "param_visibilities",
    "params",
    "accepts_messages",
    "first_failure_time",
    "tracking_url",
    "status_message",
    "progress_percentage",
    "scheduler_message_responses",
    "scheduler_disable_time",
    "runnable",
    "batchable",
    "batch_id",
];

const KNOWN_WORKER_FIELDS: &[&str] = &[
    "reference",
    "last_active",
    "last_get_work",
    "started",
    "info",
    "disabled",
    "rpc_messages",
];

fn float_value(f: f64) -> Value {
    if f.is_nan() {
        crate::pyjson::raw_number("NaN")
    } else if f.is_infinite() {
        crate::pyjson::raw_number(if f > 0.0 { "Infinity" } else { "-Infinity" })
    } else {
        Value::from(f)
    }
}

/// The export `Scheduler::from_luigi_export` reads, from a run pickle.
pub fn export(p: &Pickle) -> Result<(Value, Counts), PickleError> {
    let r = Reader {
        p,
        budget: std::cell::Cell::new(p.objs.len().saturating_mul(8).max(1 << 20)),
    };
    let parts = r
        .items(p.root)
        .filter(|v| v.len() >= 2 && matches!(r.obj(p.root), Obj::Tuple(_) | Obj::List(_)))
        .ok_or_else(|| {
            shape(format!(
                "the pickle holds a {}, not luigid's (tasks, workers, batchers) tuple",
                r.kind(p.root)
            ))
        })?;
    let mut counts = Counts::default();
    // By id, as a Python dict: a repeated key keeps its first place and its last value.
    let mut tasks = Map::new();
    for &(k, t) in r.dict(parts[0], "the tasks table")? {
        let task = r.task(k, t)?;
        tasks.insert(task["id"].as_str().unwrap_or_default().to_string(), task);
    }
    counts.tasks = tasks.len();
    let mut workers = Map::new();
    for &(k, w) in r.dict(parts[1], "the workers table")? {
        let worker = r.worker(k, w)?;
        workers.insert(
            worker["id"].as_str().unwrap_or_default().to_string(),
            worker,
        );
    }
    counts.workers = workers.len();
    let tasks: Vec<Value> = tasks.into_iter().map(|(_, v)| v).collect();
    let workers: Vec<Value> = workers.into_iter().map(|(_, v)| v).collect();
    let batchers = match parts.get(2) {
        Some(&b) => {
            let (v, n) = r.batchers(b)?;
            counts.batchers = n;
            v
        }
        None => json!({}),
    };
    Ok((
        json!({
            "format": "luigid-state-export",
            "version": 1,
            "tasks": tasks,
            "workers": workers,
            "task_batchers": batchers,
        }),
        counts,
    ))
}
