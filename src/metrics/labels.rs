//! The labels of the `luigi_task_*` series.

/// The labels of the `luigi_task_*` series, as luigi's prometheus collector
/// (`luigi/contrib/prometheus_metric.py`) builds them: the parameters named in
/// `[prometheus] task_parameters_to_use_in_labels`, then `family` when
/// `use_task_family_in_labels` (the default) is true.
#[derive(Debug, Clone, PartialEq)]
pub struct TaskLabels {
    pub params: Vec<String>,
    pub family: bool,
}

impl Default for TaskLabels {
    fn default() -> Self {
        TaskLabels {
            params: Vec::new(),
            family: true,
        }
    }
}

/// A task's params (as `str()` shows them) by task id.
pub type ParamsOf<'a> = dyn Fn(&str) -> Option<Vec<(String, String)>> + 'a;

/// Separates the label values in a series key (a NUL in a value is replaced).
pub(super) const KEY_SEP: char = '\0';

impl TaskLabels {
    /// From `[prometheus]`; the errors are the ones luigid fails to start with.
    pub fn from_ini(ini: &crate::config::Ini) -> Result<TaskLabels, String> {
        let family = ini
            .get_bool("prometheus", "use_task_family_in_labels", true)
            .map_err(|e| e.to_string())?;
        let key = "task_parameters_to_use_in_labels";
        let params = match ini
            .get_checked("prometheus", key)
            .map_err(|e| e.to_string())?
        {
            None => Vec::new(),
            Some(text) => {
                let bad = || {
                    format!(
                        "{}: [prometheus] {key} = {text:?} is not a JSON list of parameter \
                         names, e.g. [\"date\", \"region\"]",
                        ini.origin("prometheus", key)
                    )
                };
                let v = crate::pyjson::parse_py_json(text).map_err(|_| bad())?;
                let items = v.as_array().ok_or_else(bad)?;
                let names: Option<Vec<String>> = items
                    .iter()
                    .map(|x| x.as_str().map(str::to_string))
                    .collect();
                names.ok_or_else(bad)?
            }
        };
        for name in &params {
            if !valid_label_name(name) || name == "family" && family {
                return Err(format!(
                    "[prometheus] {key}: {name:?} cannot be a Prometheus label name \
                     (letters, digits and _, not starting with a digit or __, and not \
                     family twice)"
                ));
            }
        }
        if params.is_empty() && !family {
            return Err("[prometheus] use_task_family_in_labels = false with no \
                        task_parameters_to_use_in_labels leaves the task metrics without \
                        labels, which luigi's prometheus collector refuses"
                .into());
        }
        Ok(TaskLabels { params, family })
    }

    pub(super) fn family_only(&self) -> bool {
        self.family && self.params.is_empty()
    }

    pub(super) fn names(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.params.iter().map(String::as_str).collect();
        if self.family {
            v.push("family");
        }
        v
    }

    /// The series key of a task: its label values joined by [`KEY_SEP`]; a parameter
    /// the task lacks shows as `None` (prometheus_client's `str(None)`).
    pub(super) fn key(&self, family: &str, params: &[(String, String)]) -> String {
        let mut key = String::new();
        for (i, name) in self.params.iter().enumerate() {
            if i > 0 {
                key.push(KEY_SEP);
            }
            match params.iter().find(|(k, _)| k == name) {
                Some((_, v)) => key.push_str(&v.replace(KEY_SEP, "\u{fffd}")),
                None => key.push_str("None"),
            }
        }
        if self.family {
            if !self.params.is_empty() {
                key.push(KEY_SEP);
            }
            key.push_str(&family.replace(KEY_SEP, "\u{fffd}"));
        }
        key
    }
}

/// prometheus_client's label name rule.
fn valid_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    first_ok
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        && !name.starts_with("__")
}
