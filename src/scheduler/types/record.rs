//! A task's snapshot shape: the plain record [`Task`] serializes as and is read from.

use super::*;

impl Serialize for Task {
    fn serialize<S: serde::Serializer>(&self, ser: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let x = self.x();
        let alias = matches!(self.rr, ResRun::Alias);
        let rr = if alias {
            None
        } else {
            self.resources_running()
        };
        let vis = super::compact::ObjectText(self.param_visibilities.as_deref().unwrap_or(""));
        let mut st = ser.serialize_struct("Task", 35)?;
        st.serialize_field("id", &*self.id)?;
        st.serialize_field("stakeholders", &self.stakeholders)?;
        st.serialize_field("workers", &self.workers)?;
        st.serialize_field("deps", &self.deps)?;
        st.serialize_field("status", &self.status)?;
        st.serialize_field("status_seq", &self.status_seq)?;
        st.serialize_field("time", &self.time)?;
        if self.dep_rank != 0 {
            st.serialize_field("dep_rank", &self.dep_rank)?;
        }
        st.serialize_field("updated", &self.updated)?;
        st.serialize_field("retry", &self.retry)?;
        st.serialize_field("remove", &self.remove)?;
        st.serialize_field("worker_running", &self.worker_running)?;
        st.serialize_field("time_running", &self.time_running)?;
        st.serialize_field("expl", &self.expl())?;
        st.serialize_field("priority", &self.priority())?;
        st.serialize_field("prio", &self.prio)?;
        st.serialize_field("resources", self.resources())?;
        st.serialize_field("resources_running", &rr)?;
        st.serialize_field("rr_alias", &alias)?;
        st.serialize_field("family", &*self.family)?;
        st.serialize_field("module", &self.module())?;
        st.serialize_field("params", &self.params)?;
        st.serialize_field("param_visibilities", &vis)?;
        st.serialize_field("public_params", &x.public_params)?;
        st.serialize_field("accepts_messages", &x.accepts_messages)?;
        st.serialize_field("retry_policy", &*self.retry_policy)?;
        st.serialize_field("failures", &x.failures)?;
        st.serialize_field("first_failure_time", &x.first_failure_time)?;
        st.serialize_field("tracking_url", &x.tracking_url)?;
        st.serialize_field("status_message", &x.status_message)?;
        st.serialize_field("progress_percentage", &x.progress_percentage)?;
        st.serialize_field(
            "scheduler_message_responses",
            x.scheduler_message_responses
                .as_ref()
                .unwrap_or(empty_map()),
        )?;
        st.serialize_field("scheduler_disable_time", &x.scheduler_disable_time)?;
        st.serialize_field("runnable", &self.runnable)?;
        st.serialize_field("batchable", &self.batchable)?;
        st.serialize_field("batch_id", &x.batch_id)?;
        st.end()
    }
}

/// The snapshot shape of a task (the plain record `Task` serializes as).
#[derive(Deserialize)]
pub struct TaskRecord {
    pub id: String,
    pub stakeholders: Vec<u32>,
    pub workers: Vec<u32>,
    pub deps: BTreeSet<String>,
    pub status: Status,
    pub status_seq: u64,
    pub time: f64,
    #[serde(default)]
    pub dep_rank: u16,
    pub updated: f64,
    pub retry: Option<f64>,
    pub remove: Option<f64>,
    pub worker_running: Option<u32>,
    pub time_running: Option<f64>,
    pub expl: Value,
    pub priority: Value,
    /// `None` when JSON could not hold it (NaN and infinities are written as null): then
    /// it is `priority`'s number again.
    pub prio: Option<f64>,
    pub resources: Map<String, Value>,
    pub resources_running: Option<Map<String, Value>>,
    pub rr_alias: bool,
    pub family: String,
    pub module: Value,
    pub params: Map<String, Value>,
    pub param_visibilities: Map<String, Value>,
    pub public_params: Option<Map<String, Value>>,
    pub accepts_messages: Value,
    pub retry_policy: RetryPolicy,
    pub failures: VecDeque<f64>,
    pub first_failure_time: Option<f64>,
    pub tracking_url: Value,
    pub status_message: Value,
    pub progress_percentage: Value,
    pub scheduler_message_responses: Map<String, Value>,
    pub scheduler_disable_time: Option<f64>,
    pub runnable: bool,
    pub batchable: bool,
    pub batch_id: Option<String>,
}

/// JSON text of a visibilities map, `None` for `{}`.
pub fn vis_text(vis: &Map<String, Value>) -> Option<String> {
    (!vis.is_empty()).then(|| Params::from_map(vis).text().to_string())
}

impl<'de> Deserialize<'de> for Task {
    fn deserialize<D: serde::Deserializer<'de>>(de: D) -> Result<Task, D::Error> {
        TaskRecord::deserialize(de).map(Task::from)
    }
}

impl From<TaskRecord> for Task {
    fn from(r: TaskRecord) -> Task {
        let mut t = Task::new(
            Arc::from(r.id),
            Arc::from(r.family),
            Arc::new(r.retry_policy),
            r.time,
        );
        let deps: Vec<Arc<str>> = r.deps.into_iter().map(Arc::from).collect();
        t.stakeholders = Ids::from(r.stakeholders);
        t.workers = Ids::from(r.workers);
        t.deps = Deps::from_sorted(deps);
        t.status = r.status;
        t.status_seq = r.status_seq;
        t.dep_rank = r.dep_rank;
        t.updated = r.updated;
        t.retry = r.retry.into();
        t.remove = r.remove.into();
        t.worker_running = r.worker_running;
        t.time_running = r.time_running.into();
        t.set_resources(r.resources);
        t.rr = match (r.rr_alias, r.resources_running) {
            (true, _) => ResRun::Alias,
            (false, None) => ResRun::None,
            (false, Some(m)) => ResRun::from_map(m),
        };
        t.set_module(Pv::from_value(r.module));
        t.params = Params::from_map(&r.params);
        t.param_visibilities = vis_text(&r.param_visibilities).map(Arc::from);
        t.runnable = r.runnable;
        t.batchable = r.batchable;
        let x = Extra {
            priority: Pv::Null,
            module: t.x().module.clone(),
            expl: Pv::Null,
            accepts_messages: Pv::from_value(r.accepts_messages),
            tracking_url: Pv::from_value(r.tracking_url),
            status_message: Pv::from_value(r.status_message),
            progress_percentage: Pv::from_value(r.progress_percentage),
            public_params: r.public_params.as_ref().map(Params::from_map),
            failures: r.failures,
            first_failure_time: r.first_failure_time,
            scheduler_message_responses: Some(r.scheduler_message_responses)
                .filter(|m| !m.is_empty()),
            scheduler_disable_time: r.scheduler_disable_time,
            batch_id: r.batch_id,
        };
        t.extra = (!x.is_default()).then(|| Box::new(x));
        t.set_expl(Pv::from_value(r.expl));
        let prio = r.prio.or_else(|| py_num(&r.priority)).unwrap_or(f64::NAN);
        t.set_priority(Pv::from_value(r.priority), prio);
        t
    }
}
