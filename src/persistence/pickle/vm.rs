//! A small pickle virtual machine that only builds data: the opcodes CPython's pickler
//! emits for protocols 2 to 5 (see CPython's Lib/pickletools.py for their definitions),
//! objects kept in an arena so that the cycles luigid's state has (OrderedSet's linked
//! list refers to itself) are plain indices, and classes limited to an allow-list that is
//! checked by name when the pickle names them. Nothing is ever called or imported.

use std::collections::HashMap;

use super::PickleError;

/// An index into [`Pickle::objs`].
pub type Id = usize;

/// The classes and callables a luigid state may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Global {
    Task,
    Worker,
    OrderedSet,
    RetryPolicy,
    /// `luigi.scheduler.Failures`, which held a task's failures before luigi 2.x kept
    /// them on the task itself.
    Failures,
    Deque,
    Set,
    FrozenSet,
    OrderedDict,
}

impl Global {
    fn lookup(module: &str, name: &str) -> Option<Global> {
        Some(match (module, name) {
            ("luigi.scheduler", "Task") => Global::Task,
            ("luigi.scheduler", "Worker") => Global::Worker,
            ("luigi.scheduler", "OrderedSet") => Global::OrderedSet,
            ("luigi.scheduler", "RetryPolicy") => Global::RetryPolicy,
            ("luigi.scheduler", "Failures") => Global::Failures,
            ("collections", "deque") => Global::Deque,
            ("collections", "OrderedDict") => Global::OrderedDict,
            // Protocols 2 and 3 spell builtins with their Python 2 module name.
            ("builtins" | "__builtin__", "set") => Global::Set,
            ("builtins" | "__builtin__", "frozenset") => Global::FrozenSet,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            Global::Task => "luigi.scheduler.Task",
            Global::Worker => "luigi.scheduler.Worker",
            Global::OrderedSet => "luigi.scheduler.OrderedSet",
            Global::RetryPolicy => "luigi.scheduler.RetryPolicy",
            Global::Failures => "luigi.scheduler.Failures",
            Global::Deque => "collections.deque",
            Global::Set => "builtins.set",
            Global::FrozenSet => "builtins.frozenset",
            Global::OrderedDict => "collections.OrderedDict",
        }
    }

    fn is_class_instance(self) -> bool {
        matches!(
            self,
            Global::Task
                | Global::Worker
                | Global::OrderedSet
                | Global::RetryPolicy
                | Global::Failures
        )
    }
}

#[derive(Debug, Clone)]
pub enum Obj {
    None,
    Bool(bool),
    Int(i64),
    /// An integer beyond 64 bits, as its decimal digits (with a leading `-`).
    BigInt(String),
    Float(f64),
    Str(String),
    Bytes(Vec<u8>),
    List(Vec<Id>),
    Tuple(Vec<Id>),
    Dict(Vec<(Id, Id)>),
    Set(Vec<Id>),
    Deque(Vec<Id>),
    Global(Global),
    /// An object of an allowed class: the arguments it was made with and the state
    /// BUILD gave it.
    Instance {
        class: Global,
        args: Vec<Id>,
        state: Option<Id>,
    },
}

/// Bounds that keep a hostile file from taking the process down.
pub const MAX_STACK: usize = 1 << 20;
/// Nesting of MARKs (CPython's own unpickler has no limit; ours keeps memory bounded).
pub const MAX_MARKS: usize = 10_000;

/// The result of running a pickle: the objects and the one STOP returned.
#[derive(Debug)]
pub struct Pickle {
    pub objs: Vec<Obj>,
    pub root: Id,
    pub protocol: u8,
}

struct Vm<'a> {
    data: &'a [u8],
    pos: usize,
    /// Offset and byte of the opcode being run, for errors.
    op_at: usize,
    op: u8,
    objs: Vec<Obj>,
    stack: Vec<Id>,
    marks: Vec<usize>,
    memo: HashMap<u64, Id>,
    protocol: u8,
}

/// Run `data` as a pickle. Errors name the offset and the opcode.
pub fn run(data: &[u8]) -> Result<Pickle, PickleError> {
    let mut vm = Vm {
        data,
        pos: 0,
        op_at: 0,
        op: 0,
        objs: Vec::new(),
        stack: Vec::new(),
        marks: Vec::new(),
        memo: HashMap::new(),
        protocol: 0,
    };
    let root = vm.run()?;
    Ok(Pickle {
        objs: vm.objs,
        root,
        protocol: vm.protocol,
    })
}

impl<'a> Vm<'a> {
    fn err(&self, why: impl Into<String>) -> PickleError {
        PickleError::Malformed {
            offset: self.op_at,
            opcode: self.op,
            why: why.into(),
        }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], PickleError> {
        let data = self.data;
        match self.pos.checked_add(n) {
            Some(end) if end <= data.len() => {
                let s = &data[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            _ => Err(PickleError::Truncated {
                offset: self.op_at,
                opcode: self.op,
                wanted: n as u64,
                left: (data.len() - self.pos.min(data.len())) as u64,
            }),
        }
    }

    fn u8(&mut self) -> Result<u8, PickleError> {
        Ok(self.take(1)?[0])
    }

    fn le(&mut self, n: usize) -> Result<u64, PickleError> {
        let b = self.take(n)?;
        Ok(b.iter().rev().fold(0u64, |acc, &x| (acc << 8) | x as u64))
    }

    /// A length read from the file, checked against what is left before anything is
    /// allocated for it.
    fn len(&mut self, width: usize) -> Result<usize, PickleError> {
        let n = self.le(width)?;
        let left = (self.data.len() - self.pos) as u64;
        if n > left {
            return Err(PickleError::Truncated {
                offset: self.op_at,
                opcode: self.op,
                wanted: n,
                left,
            });
        }
        Ok(n as usize)
    }

    fn line(&mut self) -> Result<&'a str, PickleError> {
        let rest = &self.data[self.pos..];
        let end = rest
            .iter()
            .position(|&b| b == b'\n')
            .ok_or_else(|| self.err("no end of line"))?;
        self.pos += end + 1;
        std::str::from_utf8(&rest[..end]).map_err(|_| self.err("a name that is not UTF-8"))
    }

    fn new_obj(&mut self, o: Obj) -> Id {
        self.objs.push(o);
        self.objs.len() - 1
    }

    fn push(&mut self, id: Id) -> Result<(), PickleError> {
        if self.stack.len() >= MAX_STACK {
            return Err(PickleError::Limit {
                offset: self.op_at,
                what: "stack depth",
            });
        }
        self.stack.push(id);
        Ok(())
    }

    fn push_new(&mut self, o: Obj) -> Result<(), PickleError> {
        let id = self.new_obj(o);
        self.push(id)
    }

    fn pop(&mut self) -> Result<Id, PickleError> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err(self.err("stack underflow"));
        }
        self.stack.pop().ok_or_else(|| self.err("stack underflow"))
    }

    fn top(&self) -> Result<Id, PickleError> {
        let floor = self.marks.last().copied().unwrap_or(0);
        if self.stack.len() <= floor {
            return Err(self.err("stack underflow"));
        }
        self.stack
            .last()
            .copied()
            .ok_or_else(|| self.err("stack underflow"))
    }

    /// The items pushed since the last MARK, which is dropped.
    fn pop_mark(&mut self) -> Result<Vec<Id>, PickleError> {
        let m = self.marks.pop().ok_or_else(|| self.err("no MARK"))?;
        Ok(self.stack.split_off(m.min(self.stack.len())))
    }

    fn memo_put(&mut self, key: u64) -> Result<(), PickleError> {
        let id = self.top()?;
        // Never reached by a well-formed pickle (one entry per PUT opcode at most), kept
        // as a plain bound on memory.
        if self.memo.len() >= MAX_STACK.max(self.data.len()) {
            return Err(PickleError::Limit {
                offset: self.op_at,
                what: "memo size",
            });
        }
        self.memo.insert(key, id);
        Ok(())
    }

    fn memo_get(&mut self, key: u64) -> Result<(), PickleError> {
        let id = *self
            .memo
            .get(&key)
            .ok_or_else(|| self.err(format!("memo entry {key} was never stored")))?;
        self.push(id)
    }

    fn string(&mut self, n: usize) -> Result<(), PickleError> {
        let b = self.take(n)?;
        // CPython writes lone surrogates with `surrogatepass`; a Rust string cannot hold
        // them, so they become U+FFFD, as our JSON reader does for `\ud800`. A string
        // that begins with the raw-number mark is escaped as a client's is, so that a
        // state file cannot turn a string into a bare number in our replies.
        let s = crate::pyjson::client_string(String::from_utf8_lossy(b).into_owned());
        self.push_new(Obj::Str(s))
    }

    fn bytes(&mut self, n: usize) -> Result<(), PickleError> {
        let b = self.take(n)?.to_vec();
        self.push_new(Obj::Bytes(b))
    }

    fn long(&mut self, n: usize) -> Result<(), PickleError> {
        let b = self.take(n)?;
        let o = long_from_le(b);
        self.push_new(o)
    }

    fn global(&mut self, module: &str, name: &str) -> Result<(), PickleError> {
        match Global::lookup(module, name) {
            Some(g) => self.push_new(Obj::Global(g)),
            None => Err(PickleError::ForbiddenGlobal {
                offset: self.op_at,
                module: truncate(module),
                name: truncate(name),
            }),
        }
    }

    fn global_of(&self, id: Id) -> Result<Global, PickleError> {
        match self.objs.get(id) {
            Some(Obj::Global(g)) => Ok(*g),
            _ => Err(self.err("the callable is not an allowed class")),
        }
    }

    fn tuple_items(&self, id: Id) -> Result<Vec<Id>, PickleError> {
        match self.objs.get(id) {
            Some(Obj::Tuple(items)) => Ok(items.clone()),
            _ => Err(self.err("arguments are not a tuple")),
        }
    }

    /// The items of an iterable argument (`set([...])`, `deque([...])`).
    fn iter_items(&self, id: Id) -> Result<Vec<Id>, PickleError> {
        match self.objs.get(id) {
            Some(Obj::List(v) | Obj::Tuple(v) | Obj::Set(v) | Obj::Deque(v)) => Ok(v.clone()),
            _ => Err(self.err("an argument that is not a list, tuple or set")),
        }
    }

    /// NEWOBJ and REDUCE: make an object of an allowed class, never calling anything.
    fn make(&mut self, callable: Id, args: Id) -> Result<Obj, PickleError> {
        let g = self.global_of(callable)?;
        let args = self.tuple_items(args)?;
        Ok(match g {
            Global::Set | Global::FrozenSet => match args.as_slice() {
                [] => Obj::Set(Vec::new()),
                [items] => Obj::Set(self.iter_items(*items)?),
                _ => return Err(self.err("set() takes at most one argument")),
            },
            Global::Deque => match args.as_slice() {
                [] => Obj::Deque(Vec::new()),
                // (iterable[, maxlen]): a maxlen bounds nothing luigid keeps.
                [items, ..] if args.len() <= 2 => Obj::Deque(self.iter_items(*items)?),
                _ => return Err(self.err("deque() takes at most two arguments")),
            },
            Global::OrderedDict => match args.as_slice() {
                [] => Obj::Dict(Vec::new()),
                _ => return Err(self.err("OrderedDict made with arguments")),
            },
            g if g.is_class_instance() => Obj::Instance {
                class: g,
                args,
                state: None,
            },
            _ => return Err(self.err("not a class")),
        })
    }

    fn run(&mut self) -> Result<Id, PickleError> {
        loop {
            self.op_at = self.pos;
            self.op = 0;
            // The end of the data before STOP: `take` reports it as truncated.
            let op = self.u8()?;
            self.op = op;
            match op {
                // PROTO
                0x80 => {
                    let p = self.u8()?;
                    if p > 5 {
                        return Err(PickleError::Protocol(p));
                    }
                    self.protocol = p;
                }
                // FRAME: a length prefix only; the bytes follow inline.
                0x95 => {
                    self.le(8)?;
                }
                // STOP
                b'.' => {
                    let root = self.pop()?;
                    return Ok(root);
                }
                // MARK
                b'(' => {
                    if self.marks.len() >= MAX_MARKS {
                        return Err(PickleError::Limit {
                            offset: self.op_at,
                            what: "MARK nesting",
                        });
                    }
                    self.marks.push(self.stack.len());
                }
                // POP
                b'0' => {
                    if self.marks.last() == Some(&self.stack.len()) {
                        self.marks.pop();
                    } else {
                        self.pop()?;
                    }
                }
                // POP_MARK
                b'1' => {
                    self.pop_mark()?;
                }
                // DUP
                b'2' => {
                    let t = self.top()?;
                    self.push(t)?;
                }
                b'N' => self.push_new(Obj::None)?,
                0x88 => self.push_new(Obj::Bool(true))?,
                0x89 => self.push_new(Obj::Bool(false))?,
                // BININT, BININT1, BININT2
                b'J' => {
                    let v = self.le(4)? as u32 as i32 as i64;
                    self.push_new(Obj::Int(v))?
                }
                b'K' => {
                    let v = self.le(1)? as i64;
                    self.push_new(Obj::Int(v))?
                }
                b'M' => {
                    let v = self.le(2)? as i64;
                    self.push_new(Obj::Int(v))?
                }
                // LONG1, LONG4
                0x8a => {
                    let n = self.len(1)?;
                    self.long(n)?
                }
                0x8b => {
                    let n = self.len(4)?;
                    self.long(n)?
                }
                // INT and LONG in text form (protocol 0, kept for completeness).
                b'I' | b'L' => {
                    let line = self.line()?.trim_end_matches('L');
                    let o = match line {
                        "00" => Obj::Bool(false),
                        "01" => Obj::Bool(true),
                        _ => int_from_text(line).ok_or_else(|| self.err("not an integer"))?,
                    };
                    self.push_new(o)?
                }
                // BINFLOAT
                b'G' => {
                    let b = self.take(8)?;
                    let mut a = [0u8; 8];
                    a.copy_from_slice(b);
                    self.push_new(Obj::Float(f64::from_be_bytes(a)))?
                }
                b'F' => {
                    let line = self.line()?;
                    let f = parse_py_float(line).ok_or_else(|| self.err("not a float"))?;
                    self.push_new(Obj::Float(f))?
                }
                // SHORT_BINUNICODE, BINUNICODE, BINUNICODE8
                0x8c => {
                    let n = self.len(1)?;
                    self.string(n)?
                }
                b'X' => {
                    let n = self.len(4)?;
                    self.string(n)?
                }
                0x8d => {
                    let n = self.len(8)?;
                    self.string(n)?
                }
                // SHORT_BINBYTES, BINBYTES, BINBYTES8, BYTEARRAY8
                b'C' => {
                    let n = self.len(1)?;
                    self.bytes(n)?
                }
                b'B' => {
                    let n = self.len(4)?;
                    self.bytes(n)?
                }
                0x8e | 0x96 => {
                    let n = self.len(8)?;
                    self.bytes(n)?
                }
                // SHORT_BINSTRING, BINSTRING (Python 2 str): read as text.
                b'U' => {
                    let n = self.len(1)?;
                    self.string(n)?
                }
                b'T' => {
                    let n = self.len(4)?;
                    self.string(n)?
                }
                // EMPTY_TUPLE, TUPLE1-3, TUPLE
                b')' => self.push_new(Obj::Tuple(Vec::new()))?,
                0x85 => {
                    let a = self.pop()?;
                    self.push_new(Obj::Tuple(vec![a]))?
                }
                0x86 => {
                    let b = self.pop()?;
                    let a = self.pop()?;
                    self.push_new(Obj::Tuple(vec![a, b]))?
                }
                0x87 => {
                    let c = self.pop()?;
                    let b = self.pop()?;
                    let a = self.pop()?;
                    self.push_new(Obj::Tuple(vec![a, b, c]))?
                }
                b't' => {
                    let items = self.pop_mark()?;
                    self.push_new(Obj::Tuple(items))?
                }
                // EMPTY_LIST, LIST, APPEND, APPENDS
                b']' => self.push_new(Obj::List(Vec::new()))?,
                b'l' => {
                    let items = self.pop_mark()?;
                    self.push_new(Obj::List(items))?
                }
                b'a' => {
                    let v = self.pop()?;
                    let target = self.top()?;
                    self.extend(target, vec![v])?
                }
                b'e' => {
                    let items = self.pop_mark()?;
                    let target = self.top()?;
                    self.extend(target, items)?
                }
                // EMPTY_DICT, DICT, SETITEM, SETITEMS
                b'}' => self.push_new(Obj::Dict(Vec::new()))?,
                b'd' => {
                    let items = self.pop_mark()?;
                    let pairs = pairs(items).ok_or_else(|| self.err("odd number of items"))?;
                    self.push_new(Obj::Dict(pairs))?
                }
                b's' => {
                    let v = self.pop()?;
                    let k = self.pop()?;
                    let target = self.top()?;
                    self.set_items(target, vec![(k, v)])?
                }
                b'u' => {
                    let items = self.pop_mark()?;
                    let pairs = pairs(items).ok_or_else(|| self.err("odd number of items"))?;
                    let target = self.top()?;
                    self.set_items(target, pairs)?
                }
                // EMPTY_SET, ADDITEMS, FROZENSET
                0x8f => self.push_new(Obj::Set(Vec::new()))?,
                0x90 => {
                    let items = self.pop_mark()?;
                    let target = self.top()?;
                    match self.objs.get_mut(target) {
                        Some(Obj::Set(v)) => v.extend(items),
                        _ => return Err(self.err("ADDITEMS to something not a set")),
                    }
                }
                0x91 => {
                    let items = self.pop_mark()?;
                    self.push_new(Obj::Set(items))?
                }
                // Memo: PUT, BINPUT, LONG_BINPUT, MEMOIZE; GET, BINGET, LONG_BINGET
                b'p' => {
                    let k = self
                        .line()?
                        .parse::<u64>()
                        .map_err(|_| self.err("bad memo key"))?;
                    self.memo_put(k)?
                }
                b'q' => {
                    let k = self.le(1)?;
                    self.memo_put(k)?
                }
                b'r' => {
                    let k = self.le(4)?;
                    self.memo_put(k)?
                }
                0x94 => {
                    let k = self.memo.len() as u64;
                    self.memo_put(k)?
                }
                b'g' => {
                    let k = self
                        .line()?
                        .parse::<u64>()
                        .map_err(|_| self.err("bad memo key"))?;
                    self.memo_get(k)?
                }
                b'h' => {
                    let k = self.le(1)?;
                    self.memo_get(k)?
                }
                b'j' => {
                    let k = self.le(4)?;
                    self.memo_get(k)?
                }
                // GLOBAL, STACK_GLOBAL: only names on the allow-list.
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    self.global(module, name)?
                }
                0x93 => {
                    let name = self.pop()?;
                    let module = self.pop()?;
                    match (&self.objs[module], &self.objs[name]) {
                        (Obj::Str(m), Obj::Str(n)) => {
                            let (m, n) = (m.clone(), n.clone());
                            self.global(&m, &n)?
                        }
                        _ => return Err(self.err("STACK_GLOBAL of non-strings")),
                    }
                }
                // NEWOBJ, NEWOBJ_EX, REDUCE
                0x81 | b'R' => {
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    let o = self.make(callable, args)?;
                    self.push_new(o)?
                }
                0x92 => {
                    let kwargs = self.pop()?;
                    let args = self.pop()?;
                    let callable = self.pop()?;
                    if !matches!(self.objs.get(kwargs), Some(Obj::Dict(d)) if d.is_empty()) {
                        return Err(self.err("keyword arguments to a constructor"));
                    }
                    let o = self.make(callable, args)?;
                    self.push_new(o)?
                }
                // BUILD: an allowed instance takes its state (never __setstate__).
                b'b' => {
                    let st = self.pop()?;
                    let target = self.top()?;
                    let state_is_none = matches!(self.objs.get(st), Some(Obj::None));
                    match self.objs.get_mut(target) {
                        Some(Obj::Instance { state, .. }) => *state = Some(st),
                        // deque's reduce gives a None state when it has no __dict__.
                        Some(Obj::Deque(_)) if state_is_none => {}
                        _ => return Err(self.err("BUILD on something not an allowed object")),
                    }
                }
                other => {
                    return Err(PickleError::UnknownOpcode {
                        offset: self.op_at,
                        opcode: other,
                    })
                }
            }
        }
    }

    fn extend(&mut self, target: Id, items: Vec<Id>) -> Result<(), PickleError> {
        match self.objs.get_mut(target) {
            Some(Obj::List(v) | Obj::Deque(v)) => {
                v.extend(items);
                Ok(())
            }
            _ => Err(self.err("APPEND to something not a list")),
        }
    }

    fn set_items(&mut self, target: Id, items: Vec<(Id, Id)>) -> Result<(), PickleError> {
        match self.objs.get_mut(target) {
            Some(Obj::Dict(v)) => {
                v.extend(items);
                Ok(())
            }
            _ => Err(self.err("SETITEM on something not a dict")),
        }
    }
}

fn pairs(items: Vec<Id>) -> Option<Vec<(Id, Id)>> {
    if !items.len().is_multiple_of(2) {
        return None;
    }
    Some(items.chunks(2).map(|c| (c[0], c[1])).collect())
}

fn truncate(s: &str) -> String {
    s.chars().take(100).collect()
}

/// LONG1/LONG4: little-endian two's complement of any width.
fn long_from_le(b: &[u8]) -> Obj {
    if b.is_empty() {
        return Obj::Int(0);
    }
    if b.len() <= 8 {
        let neg = b[b.len() - 1] & 0x80 != 0;
        let mut v: u64 = if neg { u64::MAX } else { 0 };
        for (i, &x) in b.iter().enumerate() {
            v &= !(0xffu64 << (8 * i));
            v |= (x as u64) << (8 * i);
        }
        return Obj::Int(v as i64);
    }
    let neg = b[b.len() - 1] & 0x80 != 0;
    // Magnitude as little-endian bytes.
    let mut mag: Vec<u8> = b.to_vec();
    if neg {
        // Two's complement negation: invert, add one.
        let mut carry = 1u16;
        for x in mag.iter_mut() {
            let s = (!*x) as u16 + carry;
            *x = s as u8;
            carry = s >> 8;
        }
    }
    let digits = le_to_decimal(&mag);
    if digits.len() <= 19 {
        if let Ok(v) = format!("{}{digits}", if neg { "-" } else { "" }).parse::<i64>() {
            return Obj::Int(v);
        }
    }
    Obj::BigInt(if neg { format!("-{digits}") } else { digits })
}

/// Decimal digits of a little-endian unsigned magnitude (repeated division by 10^9).
/// Quadratic in the length, which the caller's input bounds.
fn le_to_decimal(le: &[u8]) -> String {
    let mut words: Vec<u32> = le
        .chunks(4)
        .map(|c| c.iter().rev().fold(0u32, |a, &x| (a << 8) | x as u32))
        .collect();
    while words.last() == Some(&0) {
        words.pop();
    }
    if words.is_empty() {
        return "0".into();
    }
    let mut parts: Vec<u32> = Vec::new();
    while !words.is_empty() {
        let mut rem: u64 = 0;
        for w in words.iter_mut().rev() {
            let cur = (rem << 32) | *w as u64;
            *w = (cur / 1_000_000_000) as u32;
            rem = cur % 1_000_000_000;
        }
        parts.push(rem as u32);
        while words.last() == Some(&0) {
            words.pop();
        }
    }
    let mut s = String::new();
    for (i, p) in parts.iter().rev().enumerate() {
        if i == 0 {
            s.push_str(&p.to_string());
        } else {
            s.push_str(&format!("{p:09}"));
        }
    }
    s
}

fn int_from_text(line: &str) -> Option<Obj> {
    let t = line.trim();
    let digits = t.strip_prefix('-').unwrap_or(t);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(match t.parse::<i64>() {
        Ok(v) => Obj::Int(v),
        Err(_) => Obj::BigInt(t.to_string()),
    })
}

fn parse_py_float(line: &str) -> Option<f64> {
    match line.trim() {
        "nan" => Some(f64::NAN),
        "inf" => Some(f64::INFINITY),
        "-inf" => Some(f64::NEG_INFINITY),
        t => t.parse().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longs_of_any_width() {
        let cases: &[(&[u8], &str)] = &[
            (&[], "0"),
            (&[0xff], "-1"),
            (&[0x80], "-128"),
            (&[0xff, 0x00], "255"),
            (&[0, 0, 0, 0, 0, 0, 0, 0x80], "-9223372036854775808"),
            (&[0, 0, 0, 0, 0, 0, 0, 0x80, 0], "9223372036854775808"),
            // 10**30 as CPython writes it (LONG1, 13 bytes).
            (
                &[
                    0x00, 0x00, 0x00, 0x40, 0xea, 0xed, 0x74, 0x46, 0xd0, 0x9c, 0x2c, 0x9f, 0x0c,
                ],
                "1000000000000000000000000000000",
            ),
            (
                &[
                    0x00, 0x00, 0x00, 0xc0, 0x15, 0x12, 0x8b, 0xb9, 0x2f, 0x63, 0xd3, 0x60, 0xf3,
                ],
                "-1000000000000000000000000000000",
            ),
        ];
        for (bytes, want) in cases {
            let got = match long_from_le(bytes) {
                Obj::Int(v) => v.to_string(),
                Obj::BigInt(s) => s,
                o => panic!("{o:?}"),
            };
            assert_eq!(&got, want, "{bytes:?}");
        }
    }
}
