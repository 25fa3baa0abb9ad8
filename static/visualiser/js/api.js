// Calls to the scheduler's RPC endpoint. Reads go as GET ?data=<json> (as luigid's own page
// does); calls that change state go as a POST form with a `data` field, which both luigid
// and luigid-rs accept and which keeps them out of caches, logs of query strings and
// prefetchers. Every POST carries X-Luigid-Rs-Request: luigid-rs (with access control on)
// refuses a browser's state-changing POST without it, which a cross-site form cannot add.
const API_ROOT = new URL("../../api/", document.baseURI);
// fetch() refuses URLs with credentials; the browser sends saved ones by itself.
API_ROOT.username = "";
API_ROOT.password = "";

// Reading a message response removes it, so it goes as POST like the operator actions.
export const MUTATING = new Set([
  "re_enable_task", "forgive_failures", "mark_as_done", "disable_worker",
  "pause", "unpause", "update_resource", "set_worker_processes",
  "send_scheduler_message", "get_scheduler_message_response",
]);

// The caller's role, from the X-Luigid-Rs-Role reply header; null when the server has no
// access control (luigid, or luigid-rs with it off): then every control is offered. All
// the page's controls need admin (src/auth/role.rs); CSS hides `.needs-admin` for the rest.
const RANK = { viewer: 1, worker: 2, admin: 3 };
let role = null;
function setRole(r) {
  const v = r && RANK[r] ? r : null;
  if (v === role) return;
  role = v;
  if (v) document.body.dataset.role = v;
  else delete document.body.dataset.role;
  const note = document.getElementById("role-note");
  if (note) {
    note.hidden = !v;
    note.textContent = v === "admin" ? "Role: admin" : v ? `Role: ${v} (read-only)` : "";
  }
}

export class ApiError extends Error {
  constructor(method, detail, status = 0) {
    super(`${method}: ${detail}`);
    this.method = method;
    this.status = status;
  }
}

// The Server header of the last API reply: luigid-rs sends "luigid-rs/<version>", luigid
// "TornadoServer/<version>"; a proxy may send its own.
let serverName = "";
// luigid-rs's own read-only methods (api/luigid_rs_*) are not asked of luigid, whose 404
// would only add an error to the console; behind a proxy that hides the header they are
// tried once.
let ownMethods = true;
export function hasOwnMethods() {
  return ownMethods && !/^TornadoServer\//i.test(serverName);
}
export function noOwnMethods() {
  ownMethods = false;
}

export async function call(method, params = {}, { signal } = {}) {
  const url = new URL(method, API_ROOT);
  const data = JSON.stringify(params);
  let init;
  if (MUTATING.has(method)) {
    init = {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded", "X-Luigid-Rs-Request": "1" },
      body: new URLSearchParams({ data }).toString(),
      signal,
    };
  } else {
    url.searchParams.set("data", data);
    init = { method: "GET", signal, cache: "no-store" };
  }
  let resp;
  try {
    resp = await fetch(url, init);
  } catch (e) {
    if (e.name === "AbortError") throw e;
    throw new ApiError(method, "scheduler unreachable");
  }
  setRole(resp.headers.get("X-Luigid-Rs-Role"));
  serverName = resp.headers.get("Server") || serverName;
  if (resp.status === 401 || resp.status === 403) throw new ApiError(method, `not allowed (HTTP ${resp.status})`, resp.status);
  if (resp.status === 503) {
    // A luigid-rs standby of a high-availability pair says so in its 503 body.
    const reply = await resp.json().catch(() => null);
    if (reply && reply.standby === true) {
      const err = new ApiError(method, "standby", 503);
      err.standby = true;
      throw err;
    }
  }
  if (!resp.ok) throw new ApiError(method, `HTTP ${resp.status}`, resp.status);
  let body;
  try {
    body = await resp.json();
  } catch (e) {
    throw new ApiError(method, "reply is not JSON");
  }
  return body === null || typeof body !== "object" ? body : body.response;
}

// task_list answers {"num_tasks": N} instead of the tasks when more than max_shown_tasks
// match (N is -1 when the server did not count, for upstream filters).
export function tooMany(reply) {
  if (!reply || typeof reply !== "object" || Array.isArray(reply)) return null;
  const keys = Object.keys(reply);
  if (keys.length === 1 && keys[0] === "num_tasks" && typeof reply.num_tasks === "number") {
    return reply.num_tasks;
  }
  return null;
}
