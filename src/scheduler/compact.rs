//! Compact representations of task fields, so that 100,000 tasks fit in a few tens of
//! MiB: echoed JSON values without the 80-byte `Value`, small id lists stored inline,
//! parameter objects kept as their JSON text (copied verbatim into replies), and
//! interned strings. Each type serializes exactly as the field it replaces did, so
//! snapshots keep their shape.

use serde::de::{Deserialize, Deserializer};
use serde::ser::{Serialize, SerializeSeq, Serializer};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// Hash maps keyed by task ids and slots. foldhash is keyed per process (a random seed),
/// so colliding ids cannot be precomputed, and it is several times faster than SipHash
/// on short keys; it is hashbrown's own default hasher.
pub type FastMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;
pub type FastSet<K> = HashSet<K, foldhash::fast::RandomState>;

/// A JSON value that a task only stores and echoes. The common values (null, booleans,
/// integers, strings) take no allocation beyond the string itself.
#[derive(Debug, Clone, PartialEq)]
pub enum Pv {
    Null,
    Bool(bool),
    Int(i64),
    Str(Arc<str>),
    Other(Box<Value>),
}

impl Pv {
    pub fn from_value(v: Value) -> Pv {
        match v {
            Value::Null => Pv::Null,
            Value::Bool(b) => Pv::Bool(b),
            Value::String(s) => Pv::Str(Arc::from(s)),
            Value::Number(n) if n.is_i64() => Pv::Int(n.as_i64().unwrap_or(0)),
            other => Pv::Other(Box::new(other)),
        }
    }

    pub fn from_ref(v: &Value) -> Pv {
        match v {
            Value::Null => Pv::Null,
            Value::Bool(b) => Pv::Bool(*b),
            Value::String(s) => Pv::Str(Arc::from(s.as_str())),
            Value::Number(n) if n.is_i64() => Pv::Int(n.as_i64().unwrap_or(0)),
            other => Pv::Other(Box::new(other.clone())),
        }
    }

    pub fn to_value(&self) -> Value {
        match self {
            Pv::Null => Value::Null,
            Pv::Bool(b) => Value::Bool(*b),
            Pv::Int(i) => Value::from(*i),
            Pv::Str(s) => Value::String(s.to_string()),
            Pv::Other(v) => (**v).clone(),
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Pv::Null)
    }

    /// Python truthiness, as [`super::types::truthy`] of the value.
    pub fn truthy(&self) -> bool {
        match self {
            Pv::Null => false,
            Pv::Bool(b) => *b,
            Pv::Int(i) => *i != 0,
            Pv::Str(s) => !s.is_empty(),
            Pv::Other(v) => super::types::truthy(v),
        }
    }

    /// A number as Python sees it, as [`super::types::py_num`] of the value.
    pub fn py_num(&self) -> Option<f64> {
        match self {
            Pv::Null => None,
            Pv::Bool(b) => Some(if *b { 1.0 } else { 0.0 }),
            Pv::Int(i) => Some(*i as f64),
            Pv::Str(s) => crate::pyjson::raw_number_value(&Value::String(s.to_string())),
            Pv::Other(v) => super::types::py_num(v),
        }
    }
}

impl Serialize for Pv {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        match self {
            Pv::Null => ser.serialize_unit(),
            Pv::Bool(b) => ser.serialize_bool(*b),
            Pv::Int(i) => ser.serialize_i64(*i),
            Pv::Str(s) => ser.serialize_str(s),
            Pv::Other(v) => v.serialize(ser),
        }
    }
}

impl<'de> Deserialize<'de> for Pv {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Pv, D::Error> {
        Value::deserialize(de).map(Pv::from_value)
    }
}

/// A small list of u32 (worker numbers): up to three inline, more on the heap.
#[derive(Clone)]
pub struct Ids(IdsRepr);

#[derive(Clone)]
// A thin `Box<Vec>` keeps `Ids` at 16 bytes (a `Vec` or `Box<[u32]>` would make it 24-32).
#[allow(clippy::box_collection)]
enum IdsRepr {
    Inline { len: u8, ids: [u32; 3] },
    Heap(Box<Vec<u32>>),
}

impl Default for Ids {
    fn default() -> Self {
        Ids(IdsRepr::Inline {
            len: 0,
            ids: [0; 3],
        })
    }
}

impl Ids {
    pub fn push(&mut self, id: u32) {
        match &mut self.0 {
            IdsRepr::Inline { len, ids } if (*len as usize) < ids.len() => {
                ids[*len as usize] = id;
                *len += 1;
            }
            IdsRepr::Inline { len, ids } => {
                let mut v = ids[..*len as usize].to_vec();
                v.push(id);
                self.0 = IdsRepr::Heap(Box::new(v));
            }
            IdsRepr::Heap(v) => v.push(id),
        }
    }

    pub fn retain(&mut self, mut keep: impl FnMut(&u32) -> bool) {
        let v: Vec<u32> = self.iter().copied().filter(|x| keep(x)).collect();
        if v.len() != self.len() {
            *self = Ids::from(v);
        }
    }
}

impl From<Vec<u32>> for Ids {
    fn from(v: Vec<u32>) -> Ids {
        if v.len() <= 3 {
            let mut ids = [0; 3];
            ids[..v.len()].copy_from_slice(&v);
            Ids(IdsRepr::Inline {
                len: v.len() as u8,
                ids,
            })
        } else {
            Ids(IdsRepr::Heap(Box::new(v)))
        }
    }
}

impl std::ops::Deref for Ids {
    type Target = [u32];
    fn deref(&self) -> &[u32] {
        match &self.0 {
            IdsRepr::Inline { len, ids } => &ids[..*len as usize],
            IdsRepr::Heap(v) => v,
        }
    }
}

impl PartialEq for Ids {
    fn eq(&self, other: &Ids) -> bool {
        **self == **other
    }
}

impl std::fmt::Debug for Ids {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Serialize for Ids {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        ser.collect_seq(self.iter())
    }
}

impl<'de> Deserialize<'de> for Ids {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Ids, D::Error> {
        Vec::<u32>::deserialize(de).map(Ids::from)
    }
}

/// A set of task slots (the dependents of one id): up to three inline.
#[derive(Debug, Clone)]
pub enum SlotSet {
    Small { len: u8, slots: [u32; 3] },
    Big(Box<FastSet<u32>>),
}

impl Default for SlotSet {
    fn default() -> Self {
        SlotSet::Small {
            len: 0,
            slots: [0; 3],
        }
    }
}

impl SlotSet {
    pub fn insert(&mut self, slot: u32) {
        match self {
            SlotSet::Small { len, slots } => {
                let n = *len as usize;
                if slots[..n].contains(&slot) {
                    return;
                }
                if n < slots.len() {
                    slots[n] = slot;
                    *len += 1;
                } else {
                    let mut set: FastSet<u32> = slots.iter().copied().collect();
                    set.insert(slot);
                    *self = SlotSet::Big(Box::new(set));
                }
            }
            SlotSet::Big(set) => {
                set.insert(slot);
            }
        }
    }

    pub fn remove(&mut self, slot: u32) {
        match self {
            SlotSet::Small { len, slots } => {
                let n = *len as usize;
                if let Some(i) = slots[..n].iter().position(|&s| s == slot) {
                    slots[i] = slots[n - 1];
                    *len -= 1;
                }
            }
            SlotSet::Big(set) => {
                set.remove(&slot);
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        match self {
            SlotSet::Small { len, .. } => *len == 0,
            SlotSet::Big(set) => set.is_empty(),
        }
    }

    pub fn to_vec(&self) -> Vec<u32> {
        match self {
            SlotSet::Small { len, slots } => slots[..*len as usize].to_vec(),
            SlotSet::Big(set) => set.iter().copied().collect(),
        }
    }
}

/// A set of task slots that may grow large (a worker's tasks): a bitmap in chunks of
/// 256 slots, only the chunks in use stored. Slots are dense and handed out in order, so
/// a worker's tasks share a few chunks, and adding one sets a bit in a small table
/// instead of hashing into a table as large as the worker's task count.
#[derive(Debug, Clone, Default)]
pub struct SlotBits {
    chunks: FastMap<u32, [u64; 4]>,
    len: usize,
}

impl SlotBits {
    fn place(slot: u32) -> (u32, usize, u64) {
        (slot >> 8, ((slot >> 6) & 3) as usize, 1u64 << (slot & 63))
    }

    /// Whether `slot` was not in the set.
    pub fn insert(&mut self, slot: u32) -> bool {
        let (key, word, bit) = Self::place(slot);
        let w = &mut self.chunks.entry(key).or_default()[word];
        let new = *w & bit == 0;
        *w |= bit;
        self.len += usize::from(new);
        new
    }

    /// Whether `slot` was in the set.
    pub fn remove(&mut self, slot: u32) -> bool {
        let (key, word, bit) = Self::place(slot);
        let Some(chunk) = self.chunks.get_mut(&key) else {
            return false;
        };
        let was = chunk[word] & bit != 0;
        chunk[word] &= !bit;
        if chunk.iter().all(|&w| w == 0) {
            self.chunks.remove(&key);
        }
        self.len -= usize::from(was);
        was
    }

    pub fn contains(&self, slot: u32) -> bool {
        let (key, word, bit) = Self::place(slot);
        self.chunks.get(&key).is_some_and(|c| c[word] & bit != 0)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The slots, in no particular order (ascending within a chunk).
    pub fn iter(&self) -> impl Iterator<Item = u32> + '_ {
        self.chunks.iter().flat_map(|(&key, chunk)| {
            chunk.iter().enumerate().flat_map(move |(i, &w)| {
                let base = key << 8 | (i as u32) << 6;
                let mut rest = w;
                std::iter::from_fn(move || {
                    if rest == 0 {
                        return None;
                    }
                    let b = rest.trailing_zeros();
                    rest &= rest - 1;
                    Some(base | b)
                })
            })
        })
    }
}

/// A task's dependencies: sorted, unique ids, sharing the id strings of the id table.
#[derive(Clone, Default, PartialEq)]
pub enum Deps {
    #[default]
    Zero,
    One(Arc<str>),
    Many(Box<[Arc<str>]>),
}

impl Deps {
    /// From sorted, unique ids.
    pub fn from_sorted(mut v: Vec<Arc<str>>) -> Deps {
        match v.len() {
            0 => Deps::Zero,
            1 => Deps::One(v.pop().unwrap_or_else(|| Arc::from(""))),
            _ => Deps::Many(v.into_boxed_slice()),
        }
    }

    pub fn as_mut_slice(&mut self) -> &mut [Arc<str>] {
        match self {
            Deps::Zero => &mut [],
            Deps::One(d) => std::slice::from_mut(d),
            Deps::Many(v) => v,
        }
    }

    pub fn same_ids(&self, ids: &[&str]) -> bool {
        self.len() == ids.len() && self.iter().zip(ids).all(|(a, b)| &**a == *b)
    }
}

impl std::ops::Deref for Deps {
    type Target = [Arc<str>];
    fn deref(&self) -> &[Arc<str>] {
        match self {
            Deps::Zero => &[],
            Deps::One(d) => std::slice::from_ref(d),
            Deps::Many(v) => v,
        }
    }
}

impl std::fmt::Debug for Deps {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl Serialize for Deps {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        let mut seq = ser.serialize_seq(Some(self.len()))?;
        for d in self.iter() {
            seq.serialize_element(&**d)?;
        }
        seq.end()
    }
}

/// An object argument of add_task (`params`, `param_visibilities`): parsed, or already
/// as the text crate::pyjson writes for it (see [`crate::api::parse_add_task_args`]).
#[derive(Clone, Copy, Debug)]
pub enum ObjArg<'a> {
    Map(&'a Map<String, Value>),
    Text(&'a str),
}

impl<'a> ObjArg<'a> {
    /// `text` when there is one, else `map`.
    pub fn of(text: Option<&'a str>, map: &'a Map<String, Value>) -> ObjArg<'a> {
        match text {
            Some(t) => ObjArg::Text(t),
            None => ObjArg::Map(map),
        }
    }

    /// As a map (parsed again from text: the uncommon paths only).
    pub fn to_map(self) -> std::borrow::Cow<'a, Map<String, Value>> {
        match self {
            ObjArg::Map(m) => std::borrow::Cow::Borrowed(m),
            ObjArg::Text(t) => match crate::pyjson::parse_py_json(t) {
                Ok(Value::Object(m)) => std::borrow::Cow::Owned(m),
                _ => std::borrow::Cow::Owned(Map::new()),
            },
        }
    }
}

/// A JSON object kept as the text crate::pyjson writes for it (`""` for `{}`), so that
/// replies copy it verbatim; [`Params::to_map`] gives it back as a `Map`.
#[derive(Clone, Default, PartialEq)]
pub struct Params(Box<str>);

impl Params {
    pub fn from_map(m: &Map<String, Value>) -> Params {
        if m.is_empty() {
            return Params::default();
        }
        with_json_text(m, |text| Params(Box::from(text)))
    }

    /// From the text crate::pyjson writes for the object.
    pub fn from_text(text: &str) -> Params {
        if text == "{}" {
            return Params::default();
        }
        Params(Box::from(text))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The JSON text of the object.
    pub fn text(&self) -> &str {
        if self.0.is_empty() {
            "{}"
        } else {
            &self.0
        }
    }

    pub fn to_map(&self) -> Map<String, Value> {
        if self.0.is_empty() {
            return Map::new();
        }
        match crate::pyjson::parse_py_json(&self.0) {
            Ok(Value::Object(m)) => m,
            _ => Map::new(),
        }
    }

    /// `(key, raw JSON text of the value)` in order, without building values.
    pub fn entries(&self) -> Entries<'_> {
        entries(&self.0)
    }

    pub fn get(&self, key: &str) -> Option<Value> {
        self.entries()
            .find(|(k, _)| k == key)
            .map(|(_, raw)| parse_raw(raw))
    }

    pub fn len(&self) -> usize {
        self.entries().count()
    }
}

thread_local! {
    /// Reused for writing object texts, so each stored text is one exact allocation.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Call `f` with the JSON text crate::pyjson writes for `m`.
pub fn with_json_text<R>(m: &Map<String, Value>, f: impl FnOnce(&str) -> R) -> R {
    SCRATCH.with(|cell| {
        let Ok(mut buf) = cell.try_borrow_mut() else {
            // Re-entered (cannot happen: the writer calls no scheduler code).
            let mut own = Vec::new();
            crate::pyjson::write_py_json(m, &mut own);
            return f(std::str::from_utf8(&own).unwrap_or("{}"));
        };
        buf.clear();
        crate::pyjson::write_py_json(m, &mut buf);
        // The writer emits ASCII only.
        let r = f(std::str::from_utf8(&buf).unwrap_or("{}"));
        if buf.capacity() > 1 << 16 {
            *buf = Vec::new();
        }
        r
    })
}

/// `(key, raw JSON text of the value)` of an object text written by crate::pyjson.
pub fn entries(text: &str) -> Entries<'_> {
    Entries {
        s: text.as_bytes(),
        text,
        pos: 1,
    }
}

/// The value of one raw JSON text written by crate::pyjson (cannot fail for our texts).
pub fn parse_raw(raw: &str) -> Value {
    crate::pyjson::parse_py_json(raw).unwrap_or(Value::Null)
}

/// The contents of a JSON string token without escapes, if it is one.
pub fn plain_str(raw: &str) -> Option<&str> {
    let inner = raw.strip_prefix('"')?.strip_suffix('"')?;
    (!inner.contains('\\')).then_some(inner)
}

pub struct Entries<'a> {
    s: &'a [u8],
    text: &'a str,
    pos: usize,
}

impl Entries<'_> {
    /// End of the string token starting at `i` (a quote): the index after its closing quote.
    fn string_end(&self, mut i: usize) -> usize {
        i += 1;
        while i < self.s.len() {
            match self.s[i] {
                b'\\' => i += 2,
                b'"' => return i + 1,
                _ => i += 1,
            }
        }
        self.s.len()
    }
}

impl<'a> Iterator for Entries<'a> {
    type Item = (Cow<'a, str>, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        // The writer's layout: `{"k": v, "k2": v2}`.
        if self.pos >= self.s.len() || self.s[self.pos] != b'"' {
            return None;
        }
        let kstart = self.pos;
        let kend = self.string_end(kstart);
        let raw_key = &self.text[kstart..kend];
        let key = match plain_str(raw_key) {
            Some(k) => Cow::Borrowed(k),
            None => Cow::Owned(match crate::pyjson::parse_py_json(raw_key) {
                Ok(Value::String(k)) => k,
                _ => String::new(),
            }),
        };
        let vstart = kend + 2;
        let mut i = vstart;
        let mut depth = 0usize;
        while i < self.s.len() {
            match self.s[i] {
                b'"' => {
                    i = self.string_end(i);
                    continue;
                }
                b'[' | b'{' => depth += 1,
                b']' | b'}' if depth > 0 => depth -= 1,
                b'}' => break,
                b',' if depth == 0 => break,
                _ => {}
            }
            i += 1;
        }
        let vend = i.min(self.s.len());
        let raw = &self.text[vstart.min(vend)..vend];
        // Past `, ` to the next key, or onto the closing brace (which stops the next call).
        self.pos = if self.s.get(vend) == Some(&b',') {
            vend + 2
        } else {
            self.s.len()
        };
        Some((key, raw))
    }
}

impl std::fmt::Debug for Params {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.text())
    }
}

impl Serialize for Params {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        ObjectText(&self.0).serialize(ser)
    }
}

/// An object's JSON text as crate::pyjson wrote it (or "" for `{}`), serialised as the
/// parsed map would be, without building the map: that re-parse (with its hash index)
/// was a quarter of a snapshot's time. Plain string values, the usual ones, are passed
/// through as they are stored.
pub struct ObjectText<'a>(pub &'a str);

impl Serialize for ObjectText<'_> {
    fn serialize<S: Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = ser.serialize_map(None)?;
        if !self.0.is_empty() {
            for (key, raw) in entries(self.0) {
                match plain_str(raw) {
                    Some(text) => map.serialize_entry(&*key, text)?,
                    None => map.serialize_entry(&*key, &parse_raw(raw))?,
                }
            }
        }
        map.end()
    }
}

/// Interned strings (families, modules, visibility texts): one copy per distinct text.
/// Entries nobody else holds are dropped once the table has doubled since the last sweep.
#[derive(Debug, Default)]
pub struct Interner {
    set: FastSet<Arc<str>>,
    sweep_at: usize,
    empty: Option<Arc<str>>,
}

impl Interner {
    pub fn get(&mut self, s: &str) -> Arc<str> {
        if s.is_empty() {
            return self.empty();
        }
        if let Some(a) = self.set.get(s) {
            return a.clone();
        }
        if self.set.len() >= self.sweep_at {
            self.set.retain(|a| Arc::strong_count(a) > 1);
            self.sweep_at = (self.set.len() * 2).max(1024);
        }
        let a: Arc<str> = Arc::from(s);
        self.set.insert(a.clone());
        a
    }

    /// The interned copy of `a` (for state loaded from a snapshot).
    pub fn canon(&mut self, a: &Arc<str>) -> Arc<str> {
        if a.is_empty() {
            return self.empty();
        }
        if let Some(c) = self.set.get(&**a) {
            return c.clone();
        }
        self.set.insert(a.clone());
        a.clone()
    }

    /// "" is kept apart from the table: an empty `&str` (such as a parsed `""`) points at
    /// a dangling address, and comparing it with a stored "" runs `memcmp(_, _, 0)`,
    /// whose masked vector load from that address takes a fault-suppression assist on
    /// AVX-512 machines: ~100 ns, measured as 5% of an upstream add_task (family "").
    fn empty(&mut self) -> Arc<str> {
        self.empty.get_or_insert_with(|| Arc::from("")).clone()
    }

    /// The interned JSON text of a non-empty object (`None` for `{}`).
    pub fn object_text(&mut self, m: &Map<String, Value>) -> Option<Arc<str>> {
        if m.is_empty() {
            return None;
        }
        Some(with_json_text(m, |text| self.get(text)))
    }

    /// [`Interner::object_text`] of an object argument.
    pub fn object_arg(&mut self, o: ObjArg) -> Option<Arc<str>> {
        match o {
            ObjArg::Map(m) => self.object_text(m),
            ObjArg::Text("{}") => None,
            ObjArg::Text(t) => Some(self.get(t)),
        }
    }

    pub fn pv(&mut self, v: &Value) -> Pv {
        match v {
            Value::String(s) => Pv::Str(self.get(s)),
            other => Pv::from_ref(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn params_serialise_as_their_map_does() {
        for m in [
            json!({}),
            json!({"date": "2026-11-24", "n": "0"}),
            json!({"q": "a \"quoted\" \\ path\n", "u": "caf\u{e9} \u{1f600}", "c": "\u{1}"}),
            json!({"i": 3, "f": 1.5, "big": 1e300, "neg": -0.0, "b": true, "z": null}),
            json!({"list": [1, "two", {"three": 3}], "obj": {"k": ["v"]}, "e": ""}),
        ] {
            let Value::Object(m) = m else { unreachable!() };
            let p = Params::from_map(&m);
            let want = serde_json::to_string(&m).unwrap();
            assert_eq!(serde_json::to_string(&p).unwrap(), want);
            let from_text = with_json_text(&m, |t| serde_json::to_string(&ObjectText(t)).unwrap());
            assert_eq!(from_text, want);
        }
    }

    #[test]
    fn interner_shares_one_copy_per_text_the_empty_one_too() {
        let mut i = Interner::default();
        let owned = String::new();
        let (a, b) = (i.get(""), i.get(owned.as_str()));
        assert!(Arc::ptr_eq(&a, &b) && a.is_empty());
        assert!(Arc::ptr_eq(&i.canon(&Arc::from("")), &a));
        let owned = String::from("Fam");
        let (x, y) = (i.get("Fam"), i.get(owned.as_str()));
        assert!(Arc::ptr_eq(&x, &y) && &*x == "Fam");
        assert!(Arc::ptr_eq(&i.canon(&Arc::from("Fam")), &x));
    }

    #[test]
    fn slot_bits_behave_as_a_set() {
        let mut bits = SlotBits::default();
        let mut model = std::collections::BTreeSet::new();
        // A deterministic walk over slots near chunk and word edges and far apart.
        let mut x: u64 = 7;
        for step in 0..20_000 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let slot = match step % 3 {
                0 => (x >> 33) as u32 % 1200,
                1 => u32::MAX - (x >> 40) as u32 % 300,
                _ => (x >> 20) as u32,
            };
            if x >> 63 == 0 {
                assert_eq!(bits.insert(slot), model.insert(slot), "insert {slot}");
            } else {
                assert_eq!(bits.remove(slot), model.remove(&slot), "remove {slot}");
            }
            assert_eq!(bits.contains(slot), model.contains(&slot));
            assert_eq!(bits.len(), model.len());
        }
        let mut all: Vec<u32> = bits.iter().collect();
        all.sort_unstable();
        assert_eq!(all, model.iter().copied().collect::<Vec<_>>());
        for s in model {
            assert!(bits.remove(s));
        }
        assert!(bits.is_empty());
        assert!(bits.chunks.is_empty(), "empty chunks are dropped");
        assert_eq!(bits.iter().count(), 0);
    }

    #[test]
    fn pv_round_trips_values() {
        for v in [
            json!(null),
            json!(true),
            json!(0),
            json!(-3),
            json!(u64::MAX),
            json!(1.0),
            json!("x"),
            json!([1, {"a": 2}]),
            crate::pyjson::raw_number("NaN"),
        ] {
            let p = Pv::from_ref(&v);
            assert_eq!(p.to_value(), v);
            assert_eq!(serde_json::to_value(&p).unwrap(), v);
            assert_eq!(p.truthy(), crate::scheduler::types::truthy(&v));
        }
        assert_eq!(Pv::from_ref(&json!(5)), Pv::Int(5));
        assert!(matches!(Pv::from_ref(&json!(5.0)), Pv::Other(_)));
    }

    #[test]
    fn ids_inline_and_heap() {
        let mut ids = Ids::default();
        for i in 0..5 {
            ids.push(i);
        }
        assert_eq!(&*ids, &[0, 1, 2, 3, 4]);
        ids.retain(|&x| x % 2 == 0);
        assert_eq!(&*ids, &[0, 2, 4]);
        ids.retain(|&x| x != 0);
        assert_eq!(&*ids, &[2, 4]);
        assert_eq!(ids.last(), Some(&4));
    }

    #[test]
    fn slot_set_grows_and_shrinks() {
        let mut s = SlotSet::default();
        for i in 0..5 {
            s.insert(i);
            s.insert(i);
        }
        let mut v = s.to_vec();
        v.sort();
        assert_eq!(v, vec![0, 1, 2, 3, 4]);
        for i in 0..5 {
            s.remove(i);
        }
        assert!(s.is_empty());
        let mut s = SlotSet::default();
        s.insert(7);
        s.insert(8);
        s.remove(7);
        assert_eq!(s.to_vec(), vec![8]);
    }

    #[test]
    fn params_text_round_trips_and_scans() {
        let m = json!({"b": "x\"y", "a\u{e9}": [1, {"k": "}, "}], "c": 1.0, "d": null,
                       "e": "</s>", "f": {"g": [2, 3]}});
        let m = m.as_object().unwrap();
        let p = Params::from_map(m);
        assert_eq!(&p.to_map(), m);
        let keys: Vec<String> = p.entries().map(|(k, _)| k.into_owned()).collect();
        assert_eq!(keys, vec!["b", "a\u{e9}", "c", "d", "e", "f"]);
        for (k, v) in m {
            assert_eq!(p.get(k).as_ref(), Some(v), "{k}");
        }
        assert_eq!(p.len(), 6);
        assert_eq!(p.get("zz"), None);
        let mut direct = Vec::new();
        crate::pyjson::write_py_json(m, &mut direct);
        assert_eq!(p.text().as_bytes(), &direct[..]);
        let e = Params::from_map(&Map::new());
        assert!(e.is_empty());
        assert_eq!(e.text(), "{}");
        assert_eq!(e.entries().count(), 0);
        assert_eq!(e.to_map(), Map::new());
        let raw = json!({"n": crate::pyjson::raw_number("NaN")});
        let p = Params::from_map(raw.as_object().unwrap());
        assert_eq!(p.text(), "{\"n\": NaN}");
        assert_eq!(&p.to_map(), raw.as_object().unwrap());
    }
}
