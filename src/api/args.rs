//! One call's arguments and their typed reading.
//!
//! Rules every method follows: a missing required argument or a wrong type is
//! [`ApiError::BadArgument`] naming the argument (luigid answers 500); an explicit JSON
//! `null` means "the default" wherever Python's default is `None`; a task id may be any
//! JSON value but an array or an object (luigid looks it up as a dict key).

use super::ApiError;
use crate::pyjson::{JsonError, Members, Spans};
use crate::scheduler::types::truthy;
use serde_json::{Map, Value};
use std::borrow::Cow;

/// The names of add_task's object arguments that [`parse_add_task_args`] can return as
/// text, in the order of [`ObjectTexts`].
pub const OBJECT_TEXT_ARGS: [&str; 2] = ["params", "param_visibilities"];

/// For each of [`OBJECT_TEXT_ARGS`], its object as [`crate::pyjson::write_py_json`] writes
/// it, when [`parse_add_task_args`] read it that way.
pub type ObjectTexts = [Option<String>; 2];

/// add_task's `data`: its members, with `params` and `param_visibilities` as text when
/// they are objects of plain members (the scheduler keeps both as text), and each
/// member's place in the text, so that the journal can leave members out. See
/// [`crate::pyjson::parse_members_with_texts`].
#[allow(clippy::type_complexity)]
pub fn parse_add_task_args(
    text: &str,
) -> Result<Option<(Members<'_>, ObjectTexts, Spans)>, JsonError> {
    crate::pyjson::parse_members_with_texts(text, &OBJECT_TEXT_ARGS)
}

/// A call's arguments: the members of its `data` object in order, as parsed. A repeated
/// name stays repeated and its last value counts, at its first position, as in the
/// Python dict luigid builds. A handful of names is faster to scan than to hash.
pub struct Args<'a> {
    /// The method's name, for error messages (set by [`super::call`]).
    pub(super) method: &'static str,
    pub(super) members: Members<'a>,
    /// add_task's `params` and `param_visibilities` as text, when the parser kept them
    /// so (their place in `members` then holds an empty object).
    pub(super) texts: ObjectTexts,
}

impl Drop for Args<'_> {
    fn drop(&mut self) {
        // The list's buffer serves the next request's parse (see pyjson::recycle_members).
        if self.members.capacity() > 0 {
            crate::pyjson::recycle_members(std::mem::take(&mut self.members));
        }
    }
}

impl<'a> Args<'a> {
    /// The members of a `data` object as [`crate::pyjson::parse_members`] or
    /// [`parse_add_task_args`] gave them.
    pub fn new(members: Members<'a>, texts: ObjectTexts) -> Args<'a> {
        Args {
            method: "",
            members,
            texts,
        }
    }

    /// No arguments.
    pub fn none() -> Args<'static> {
        Args::new(Vec::new(), ObjectTexts::default())
    }

    /// From a decoded object (journal records, tests, tools).
    pub fn from_map(map: Map<String, Value>) -> Args<'static> {
        Args::new(
            map.into_iter().map(|(k, v)| (Cow::Owned(k), v)).collect(),
            ObjectTexts::default(),
        )
    }

    /// Add an argument (after the others, so it wins over one of the same name).
    pub fn push(&mut self, name: &'static str, value: Value) {
        self.members.push((Cow::Borrowed(name), value));
    }

    /// The arguments folded as a Python dict: each name once, at its first position,
    /// with its last value.
    pub fn to_map(&self) -> Map<String, Value> {
        self.members
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    /// Every name in order (a repeated one more than once).
    pub(super) fn names(&self) -> impl Iterator<Item = &str> {
        self.members.iter().map(|(k, _)| k.as_ref())
    }

    /// Each distinct name with its value, in the dict's order (first position, last value).
    pub(super) fn entries(&self) -> Vec<(&str, &Value)> {
        let l = &self.members;
        l.iter()
            .enumerate()
            .filter(|(i, (k, _))| !l[..*i].iter().any(|(seen, _)| seen == k))
            .filter_map(|(_, (k, _))| self.get(k).map(|v| (k.as_ref(), v)))
            .collect()
    }

    /// As sent (null included); `None` when absent.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.members
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    /// Present and not null.
    pub(super) fn opt(&self, name: &str) -> Option<&Value> {
        self.get(name).filter(|v| !v.is_null())
    }

    /// `method: message` as a bad-argument error.
    pub(super) fn bad(&self, message: String) -> ApiError {
        ApiError::BadArgument(format!("{}: {message}", self.method))
    }

    pub(super) fn missing(&self, name: &str) -> ApiError {
        self.bad(format!("missing required argument {name:?}"))
    }

    pub(super) fn wrong(&self, name: &str, want: &str) -> ApiError {
        self.bad(format!("argument {name:?} must be {want}"))
    }

    pub(super) fn req(&self, name: &str) -> Result<&Value, ApiError> {
        self.get(name).ok_or_else(|| self.missing(name))
    }

    pub(super) fn req_str(&self, name: &str) -> Result<&str, ApiError> {
        self.req(name)?
            .as_str()
            .ok_or_else(|| self.wrong(name, "a string"))
    }

    /// A string that must be there; null counts as missing (a worker id whose luigid
    /// default, None, no worker sends).
    pub(super) fn req_str_not_null(&self, name: &str) -> Result<&str, ApiError> {
        match self.opt(name) {
            Some(Value::String(s)) => Ok(s),
            Some(_) => Err(self.wrong(name, "a string")),
            None => Err(self.missing(name)),
        }
    }

    pub(super) fn opt_str(&self, name: &str) -> Result<Option<&str>, ApiError> {
        match self.opt(name) {
            None => Ok(None),
            Some(v) => v
                .as_str()
                .map(Some)
                .ok_or_else(|| self.wrong(name, "a string or null")),
        }
    }

    pub(super) fn opt_obj(&self, name: &str) -> Result<Option<&Map<String, Value>>, ApiError> {
        match self.opt(name) {
            None => Ok(None),
            Some(v) => v
                .as_object()
                .map(Some)
                .ok_or_else(|| self.wrong(name, "an object or null")),
        }
    }

    pub(super) fn opt_str_list(&self, name: &str) -> Result<Option<Vec<String>>, ApiError> {
        str_list(
            self.opt(name),
            || self.wrong(name, "a list of strings"),
            || self.wrong(name, "a list of strings or null"),
        )
    }

    /// An object of numbers (booleans count, as in Python), or null.
    pub(super) fn numeric_map(&self, name: &str) -> Result<Option<&Map<String, Value>>, ApiError> {
        let Some(m) = self.opt_obj(name)? else {
            return Ok(None);
        };
        check_numeric(m, |k| {
            self.wrong(name, &format!("an object of numbers (key {k:?})"))
        })?;
        Ok(Some(m))
    }

    /// Python truthiness, `default` when absent.
    pub(super) fn truthy_or(&self, name: &str, default: bool) -> bool {
        self.get(name).map_or(default, truthy)
    }

    /// A task id: any JSON value is echoed; only strings can match a task.
    pub(super) fn task_id(&self, name: &str) -> Result<&Value, ApiError> {
        let v = self.req(name)?;
        match v {
            Value::Array(_) | Value::Object(_) => Err(self.wrong(name, "a string")),
            _ => Ok(v),
        }
    }

    /// A task id whose luigid default is None (absent reads as null).
    pub(super) fn task_id_or_null(&self, name: &str) -> Result<&Value, ApiError> {
        match self.get(name) {
            None => Ok(&Value::Null),
            Some(Value::Array(_) | Value::Object(_)) => Err(self.wrong(name, "a string")),
            Some(v) => Ok(v),
        }
    }
}

/// A list of strings (`None` for absent or null), with the two errors a caller words.
pub(super) fn str_list(
    v: Option<&Value>,
    not_strings: impl FnOnce() -> ApiError,
    not_a_list: impl FnOnce() -> ApiError,
) -> Result<Option<Vec<String>>, ApiError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Array(a)) => match a
            .iter()
            .map(|x| x.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
        {
            Some(list) => Ok(Some(list)),
            None => Err(not_strings()),
        },
        Some(_) => Err(not_a_list()),
    }
}

/// Every value a number or a boolean; else the error for the first other key.
pub(super) fn check_numeric(
    m: &Map<String, Value>,
    wrong: impl FnOnce(&str) -> ApiError,
) -> Result<(), ApiError> {
    match m
        .iter()
        .find(|(_, v)| !matches!(v, Value::Number(_) | Value::Bool(_)))
    {
        Some((k, _)) => Err(wrong(k)),
        None => Ok(()),
    }
}

/// A task's `owners` argument (a list of addresses; one address taken as a list of one).
pub(super) fn owner_list(v: Option<&Value>) -> Vec<String> {
    match v {
        Some(Value::Array(a)) => a.iter().map(crate::scheduler::pyfmt::py_str).collect(),
        Some(Value::String(s)) => vec![crate::pyjson::client_str(s).to_string()],
        _ => Vec::new(),
    }
}
