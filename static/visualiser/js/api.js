// Calls to the scheduler's RPC endpoint. Reads go as GET ?data=<json> (as luigid's own page
// does); calls that change state go as a POST form with a `data` field, which both luigid
// and luigid-rs accept and which keeps them out of caches, logs of query strings and
// prefetchers.
const API_ROOT = new URL("../../api/", document.baseURI);

export const MUTATING = new Set([
  "re_enable_task", "forgive_failures", "mark_as_done", "disable_worker",
  "pause", "unpause", "update_resource", "set_worker_processes",
]);

export class ApiError extends Error {
  constructor(method, detail) {
    super(`${method}: ${detail}`);
    this.method = method;
  }
}

export async function call(method, params = {}, { signal } = {}) {
  const url = new URL(method, API_ROOT);
  const data = JSON.stringify(params);
  let init;
  if (MUTATING.has(method)) {
    init = {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
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
  if (!resp.ok) throw new ApiError(method, `HTTP ${resp.status}`);
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
