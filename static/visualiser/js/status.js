// Task statuses as the scheduler reports them, and the pending tasks' upstream states.
export const STATUSES = ["PENDING", "RUNNING", "BATCH_RUNNING", "DONE", "FAILED", "DISABLED", "UNKNOWN"];
export const UPSTREAM = [
  "UPSTREAM_RUNNING", "UPSTREAM_MISSING_INPUT", "UPSTREAM_FAILED", "UPSTREAM_DISABLED",
];

export const LABELS = {
  PENDING: "Pending",
  RUNNING: "Running",
  BATCH_RUNNING: "Batch running",
  DONE: "Done",
  FAILED: "Failed",
  DISABLED: "Disabled",
  UNKNOWN: "Unknown",
  TRUNCATED: "Truncated",
  UPSTREAM_RUNNING: "Upstream running",
  UPSTREAM_MISSING_INPUT: "Missing input",
  UPSTREAM_FAILED: "Upstream failed",
  UPSTREAM_DISABLED: "Upstream disabled",
};

// Graph node colours, one per status (the same hues luigid's graph uses).
export const COLORS = {
  FAILED: "#d9302b",
  DONE: "#2e9e44",
  RUNNING: "#2f6fd6",
  PENDING: "#f0c419",
  DISABLED: "#8a8f98",
  BATCH_RUNNING: "#8e44ad",
  UNKNOWN: "#111111",
  TRUNCATED: "#d61fc6",
};

export function isUpstream(s) {
  return s.startsWith("UPSTREAM_");
}
