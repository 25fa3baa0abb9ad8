"""Generate tests/hostile/corpus.json: hostile requests for luigid-rs, kept as data.

Run `python3 tests/hostile/gen_corpus.py` after editing; the test checks that the
committed corpus.json is what this script produces.

Each case: id, category, raw (the request bytes as a list of [text, repeat] pieces,
text a latin-1 string, one char per byte; long runs are stored once with their count),
expect (a list of acceptable statuses or status classes "4xx"), why (why that answer).
Cases that luigid accepts AND that change state are marked "mutates": true and run
against a throwaway server, outside the before/after state comparison.
"""
import hashlib
import json
import os
import re
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "corpus.json")

CASES = []


# The RPC categories take their expectation from what the real luigid answered
# (verdicts.json, written by record_verdicts.py): sha1(raw) -> [luigid, luigid-rs].
RPC_CATEGORIES = ("data_utf8", "data_json", "wrong_type", "unknown_key", "missing_arg",
                  "unknown_method", "enormous", "nan_inf", "negative", "unknown_status")
try:
    with open(os.path.join(HERE, "verdicts.json")) as f:
        VERDICTS = json.load(f)
except OSError:
    VERDICTS = {}


WORKER_CREATING = ("get_work", "send_scheduler_message", "set_worker_processes")


def rule(raw, expect, why):
    """RULES for an RPC case, from the recorded verdicts:
    - luigid 200 and luigid-rs 200: expect 200 (luigid's semantics accept the input: a
      lookup that finds nothing, a value luigid only stores or logs);
    - luigid-rs 4xx: expect a 4xx (luigid answers 500, or accepts a wrong JSON type by
      duck typing where luigid-rs names the argument in a 400: no real client sends it);
    - luigid 500 but luigid-rs 200: a divergence, reported; 200 or a 4xx pass;
    - otherwise (not recorded yet): the generator's own expectation."""
    v = VERDICTS.get(hashlib.sha1(raw).hexdigest())
    if not v or v[1] is None:
        return expect, why
    py, rs = v
    if rs == 200 and py == 200:
        return [200], why + "; luigid accepts it too (200)"
    if rs is not None and 400 <= rs < 500:
        if py == 200:
            return ["4xx"], why + "; luigid accepts it by duck typing, luigid-rs refuses (%d)" % rs
        return ["4xx"], why + "; luigid: %s" % py
    if rs == 200 and py != 200:
        return [200, "4xx"], why + "; DIVERGENCE: luigid %s, luigid-rs 200 (reported)" % py
    return expect, why


def case(category, raw, expect, why, mutates=False):
    if isinstance(raw, str):
        raw = raw.encode("utf-8")
    assert expand(compress(raw)) == raw
    if category in RPC_CATEGORIES:
        expect, why = rule(raw, expect, why)
        if expect == ["4xx"]:
            mutates = False
        # These get-or-create the named worker (in luigid as well): accepted, they change
        # worker_list, so they run outside the state comparison.
        m = re.match(rb"[A-Z]+ /api/([a-z_]+)", raw)
        if 200 in expect and m and m.group(1).decode() in WORKER_CREATING:
            mutates = True
    c = {
        "id": "%s-%03d" % (category, sum(1 for x in CASES if x["category"] == category)),
        "category": category,
        "raw": compress(raw),
        "expect": expect,
        "why": why,
    }
    if mutates:
        c["mutates"] = True
    CASES.append(c)


def req(method, path, headers=(), body=b""):
    if isinstance(body, str):
        body = body.encode("utf-8")
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: t", "Connection: close"]
    lines += list(headers)
    if body or method == "POST":
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def form(data_bytes):
    """A form body carrying `data` exactly as given (bytes, percent-encoded)."""
    return b"data=" + urllib.parse.quote_from_bytes(data_bytes, safe="").encode()


def rpc(method, data, via="post"):
    if isinstance(data, (dict, list)) or data is None:
        data = json.dumps(data)
    if isinstance(data, str):
        data = data.encode("utf-8")
    if via == "post":
        return req("POST", "/api/" + method,
                   ["Content-Type: application/x-www-form-urlencoded"], form(data))
    q = urllib.parse.quote_from_bytes(data, safe="")
    return req("GET", "/api/%s?data=%s" % (method, q))


RUN = re.compile(rb"(.{1,16}?)\1{63,}", re.S)


def compress(raw):
    """[[text, count], ...] with every periodic run of 64+ repeats kept once."""
    out, pos = [], 0
    for m in RUN.finditer(raw):
        if m.start() > pos:
            out.append([raw[pos:m.start()].decode("latin-1"), 1])
        unit = m.group(1)
        out.append([unit.decode("latin-1"), (m.end() - m.start()) // len(unit)])
        pos = m.end()
    if pos < len(raw):
        out.append([raw[pos:].decode("latin-1"), 1])
    return out


def expand(pieces):
    return b"".join(t.encode("latin-1") * n for t, n in pieces)


FOURXX = ["4xx"]

# --- malformed request lines -------------------------------------------------------
for raw, why in [
    (b"GET\r\n\r\n", "method only"),
    (b"GET /\r\n\r\n", "HTTP/0.9 form, no version"),
    (b"GET / HTTP/1.1 extra\r\nHost: t\r\n\r\n", "a fourth token on the request line"),
    (b"G ET / HTTP/1.1\r\nHost: t\r\n\r\n", "space inside the method"),
    (b"GET  / HTTP/1.1\r\nHost: t\r\n\r\n", "two spaces before the target"),
    (b" GET / HTTP/1.1\r\nHost: t\r\n\r\n", "leading space"),
    (b"/ HTTP/1.1\r\nHost: t\r\n\r\n", "no method"),
    (b"GET / FOO/1.1\r\nHost: t\r\n\r\n", "not an HTTP version"),
    (b"GET / HTTP/1.x\r\nHost: t\r\n\r\n", "non-numeric minor version"),
    (b"GET /\x00 HTTP/1.1\r\nHost: t\r\n\r\n", "NUL in the target"),
    (b"GET /\x7f HTTP/1.1\r\nHost: t\r\n\r\n", "DEL in the target"),
    (b"GET /a\tb HTTP/1.1\r\nHost: t\r\n\r\n", "tab in the target"),
    (b"GE\x80T / HTTP/1.1\r\nHost: t\r\n\r\n", "non-token byte in the method"),
    (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 40 + b"\r\n\r\n",
     "a TLS ClientHello on the plain port"),
    (b"\xff\xfe\xfd\xfc\r\n\r\n", "binary garbage"),
    (b"GET " + b"/a" * 60000 + b" HTTP/1.1\r\nHost: t\r\n\r\n", "a 120 kB target"),
    (b"GET / HTTP/1.1\r" + b"Host: t\r\n\r\n", "bare CR as a line end"),
]:
    case("request_line", raw, FOURXX, "malformed request line: " + why)
case("request_line", b"\r\n\r\n", ["4xx", "closed"],
     "only empty lines: RFC 9112 lets a server skip them; a close without a reply is fine")
case("request_line", b"GET / HTTP/11\r\nHost: t\r\n\r\n", ["4xx", 505],
     "version without a dot: 400, or 505 when read as an unsupported version")
case("request_line", b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", ["4xx", 505],
     "HTTP/2 prior-knowledge preface: 505 HTTP Version Not Supported")
case("request_line", b"GET / HTTP/2.0\r\nHost: t\r\n\r\n", ["4xx", 505],
     "unsupported major version: 505 HTTP Version Not Supported is the RFC 9110 answer")
case("request_line", b"GET / HTTP/3.7\r\nHost: t\r\n\r\n", ["4xx", 505],
     "unsupported major version: 505 is the defined answer, not a failure")
case("request_line", b"BREW / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", ["4xx", 501],
     "unknown method on /: 405 (luigid's Tornado) or 501 Not Implemented")
case("request_line", b"DELETE /api/ping HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
     [405], "luigid answers 405 for DELETE on /api/*")
case("request_line", b"GET http://127.0.0.1:1/ HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
     ["2xx", "3xx", "4xx"], "absolute-form target: served or refused, never proxied")
case("request_line", b"GET * HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", FOURXX,
     "asterisk-form outside OPTIONS")

# --- headers -----------------------------------------------------------------------
big = "x" * 100000
for raw, why, exp in [
    (req("GET", "/", ["X-Big: " + big]), "a 100 kB header value", FOURXX),
    (req("GET", "/", ["X-H: v"] * 2000), "2000 header lines", FOURXX),
    (req("GET", "/", ["Cookie: " + "a=b; " * 20000]), "a 100 kB cookie", FOURXX),
    (req("GET", "/", ["NoColonHere"]), "a header line without a colon", FOURXX),
    (req("GET", "/", ["Bad Name: v"]), "a space inside a header name", FOURXX),
    (req("GET", "/", ["X-A : v"]), "whitespace before the colon (smuggling vector)", FOURXX),
    (req("GET", "/", ["X-A: v", " folded"]), "obsolete line folding", FOURXX),
    (req("GET", "/", ["X-A: a\x00b"]), "NUL in a header value", FOURXX),
    (req("GET", "/", [": empty-name"]), "empty header name", FOURXX),
    (b"POST /api/ping HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nabcdef",
     "two different Content-Length values", FOURXX),
    (b"POST /api/ping HTTP/1.1\r\nHost: t\r\nContent-Length: -1\r\n\r\n",
     "negative Content-Length", FOURXX),
    (b"POST /api/ping HTTP/1.1\r\nHost: t\r\nContent-Length: abc\r\n\r\n",
     "non-numeric Content-Length", FOURXX),
    (b"POST /api/ping HTTP/1.1\r\nHost: t\r\nContent-Length: +5\r\n\r\nabcde",
     "signed Content-Length", FOURXX),
    (b"POST /api/ping HTTP/1.1\r\nHost: t\r\nContent-Length: 99999999999999999999999\r\n\r\n",
     "Content-Length beyond 64 bits", FOURXX),
    (b"POST /api/ping HTTP/1.1\r\nHost: t\r\nContent-Length: 1073741824\r\n\r\n",
     "a 1 GiB Content-Length, beyond the body limit", FOURXX),
    (b"POST /api/ping HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
     "Content-Length and Transfer-Encoding together (request smuggling)", FOURXX),
    (b"POST /api/ping HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n",
     "chunked twice", FOURXX),
    (b"POST /api/ping HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
     "a look-alike transfer coding", ["4xx", 501]),
    (b"POST /api/ping HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: gzip\r\n\r\nxx",
     "an unsupported transfer coding: 501 is the defined answer", ["4xx", 501]),
    (b"POST /api/ping HTTP/1.0\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
     "chunked in HTTP/1.0", ["4xx"]),
]:
    case("headers", raw, exp, why)

# --- chunked bodies ----------------------------------------------------------------
CH = b"POST /api/ping HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n"
for body, why in [
    (b"zz\r\nabc\r\n0\r\n\r\n", "a non-hex chunk size"),
    (b"-1\r\nabc\r\n0\r\n\r\n", "a negative chunk size"),
    (b"ffffffffffffffffffff\r\nabc\r\n0\r\n\r\n", "a chunk size beyond 64 bits"),
    (b"7fffffff\r\nabc", "a 2 GiB chunk, beyond the body limit"),
    (b"3\r\nabcdef\r\n0\r\n\r\n", "chunk data longer than its size"),
    (b"3\r\nabc0\r\n\r\n", "no CRLF after the chunk data"),
    (b" 3\r\nabc\r\n0\r\n\r\n", "a space before the chunk size"),
    (b"3 x\r\nabc\r\n0\r\n\r\n", "garbage after the chunk size"),
    (b"\r\nabc\r\n0\r\n\r\n", "an empty chunk size line"),
    (b"0x3\r\nabc\r\n0\r\n\r\n", "a 0x prefix"),
    (b"3\nabc\n0\n\n", "bare LF line ends in chunks"),
    (b"0\r\nX-Trailer\r\n\r\n", "a malformed trailer"),
]:
    case("chunked", CH + body, FOURXX, "bad chunked framing: " + why)

# --- data: encoding and JSON ---------------------------------------------------------
for data, why in [
    (b"\xff\xfe", "invalid UTF-8 (luigid: 400)"),
    (b'{"worker": "\xc3"}', "truncated UTF-8 sequence"),
    (b'{"worker": "\xed\xa0\x80"}', "an encoded surrogate (invalid UTF-8)"),
    (b"\xc0\xaf", "an overlong encoding"),
]:
    case("data_utf8", rpc("ping", data), FOURXX, why)
    case("data_utf8", rpc("ping", data, via="get"), FOURXX, why + ", in the query")
for data, why in [
    ("{", "unterminated object"),
    ("[1,]", "trailing comma"),
    ("{'worker': 'w'}", "single quotes"),
    ('{"worker": "w",}', "trailing comma in an object"),
    ("", "empty data= (luigid: 500 from json.loads)"),
    ("{\"a\": 1} x", "trailing garbage"),
    ("{\"a\": 01}", "a leading zero"),
    ("{\"a\": \"\\x41\"}", "an invalid escape"),
    ("{\"a\": tru}", "a broken literal"),
    ("[]", "an array, not an object"),
    ("1", "a number, not an object"),
    ("\"s\"", "a string, not an object"),
    ("null", "null, not an object"),
    ("true", "a boolean, not an object"),
    ("{\"self\": 1}", "the reserved name self"),
    ("[" * 100000 + "]" * 100000, "arrays nested 100000 deep"),
    ('{"a":' * 50000 + "1" + "}" * 50000, "objects nested 50000 deep"),
    ("[" * 100000, "unterminated deep nesting"),
]:
    case("data_json", rpc("ping", data), FOURXX, "invalid JSON in data: " + why)
    case("data_json", rpc("task_list", data, via="get"), FOURXX,
         "invalid JSON in data (GET): " + why)

# --- the methods and their arguments -------------------------------------------------
# type classes: s = string, S = string or null, b = bool (Python truthiness in luigid),
# n = number, l = list of strings, L = list or null, d = object, D = object or null,
# a = anything JSON
METHODS = {
    "add_task": {"task_id": "S", "status": "s", "runnable": "b", "deps": "L", "new_deps": "L",
                 "expl": "a", "resources": "D", "priority": "n", "family": "s", "module": "S",
                 "params": "D", "param_visibilities": "D", "accepts_messages": "b",
                 "assistant": "b", "tracking_url": "S", "worker": "s", "batchable": "b",
                 "batch_id": "S", "retry_policy_dict": "D", "owners": "L"},
    "add_task_batcher": {"worker": "s", "task_family": "s", "batched_args": "l",
                         "max_batch_size": "n"},
    "add_worker": {"worker": "s", "info": "d"},
    "announce_scheduling_failure": {"task_name": "s", "family": "s", "params": "d",
                                    "expl": "a", "owners": "L"},
    "count_pending": {"worker": "s"},
    "get_work": {"host": "S", "assistant": "b", "current_tasks": "L", "worker": "s"},
    "ping": {"worker": "s"},
    "set_task_status_message": {"task_id": "s", "status_message": "a"},
    "get_task_status_message": {"task_id": "s"},
    "set_task_progress_percentage": {"task_id": "s", "progress_percentage": "a"},
    "get_task_progress_percentage": {"task_id": "s"},
    "decrease_running_task_resources": {"task_id": "s", "decrease_resources": "d"},
    "get_running_task_resources": {"task_id": "s"},
    "report_task_statistics": {"task_id": "s", "statistics": "a"},
    "send_scheduler_message": {"worker": "s", "task": "s", "content": "a"},
    "add_scheduler_message_response": {"task_id": "s", "message_id": "s", "response": "a"},
    "get_scheduler_message_response": {"task_id": "s", "message_id": "s"},
    "graph": {},
    "dep_graph": {"task_id": "s", "include_done": "b"},
    "inverse_dep_graph": {"task_id": "s", "include_done": "b"},
    "task_list": {"status": "s", "upstream_status": "s", "limit": "b", "search": "S",
                  "max_shown_tasks": "n"},
    "worker_list": {"include_running": "b"},
    "resource_list": {},
    "task_search": {"task_str": "s"},
    "re_enable_task": {"task_id": "s"},
    "fetch_error": {"task_id": "s"},
    "forgive_failures": {"task_id": "S"},
    "mark_as_done": {"task_id": "S"},
    "disable_worker": {"worker": "s"},
    "set_worker_processes": {"worker": "s", "n": "n"},
    "is_pause_enabled": {},
    "is_paused": {},
    "pause": {},
    "unpause": {},
    "has_task_history": {},
    "update_resource": {"resource": "s", "amount": "n"},
    "update_resources": {},
    "prune": {},
    "update_metrics_task_started": {"task": "d"},
}
assert len(METHODS) == 39

# Valid values that name nothing in the seeded state, so a refused call cannot be
# confused with a no-op on a known object.
VALID = {"s": "hostile-x", "S": "hostile-x", "b": True, "n": 1, "l": ["x"], "L": ["x"],
         "d": {}, "D": {}, "a": "x"}
# Wrong values per class: each is of a JSON type the class does not allow.
WRONG = {
    "s": [12345, ["x"], {"x": 1}, True],
    "S": [12345, ["x"], {"x": 1}],
    "n": ["ten", ["1"], {"x": 1}],
    "l": ["x", 5, {"x": 1}, [1, 2]],
    "L": ["x", 5, {"x": 1}],
    "d": ["x", 5, ["x"]],
    "D": ["x", 5, [1]],
    "b": [],  # Python truthiness accepts every value; no wrong type exists
    "a": [],
}
for m, args in METHODS.items():
    base = {k: VALID[t] for k, t in args.items()}
    for arg, t in args.items():
        for w in WRONG[t]:
            data = dict(base)
            data[arg] = w
            case("wrong_type", rpc(m, data), FOURXX,
                 "%s.%s must be %s; got %s" % (m, arg, t, type(w).__name__))
    if not METHODS[m] and m not in ("update_resources",):
        continue

# Unknown keys for the methods without **kwargs (luigid: TypeError -> 500).
for m in ["add_task_batcher", "count_pending", "set_task_status_message", "resource_list",
          "re_enable_task", "disable_worker", "update_resource", "pause", "unpause", "prune",
          "is_paused", "update_metrics_task_started"]:
    data = {k: VALID[t] for k, t in METHODS[m].items()}
    data["bogus_key"] = 1
    case("unknown_key", rpc(m, data), FOURXX, "%s takes no **kwargs: an unknown key" % m)
# Missing required arguments.
for m, a in [("add_task_batcher", "batched_args"), ("add_worker", "info"),
             ("set_task_status_message", "status_message"), ("update_resource", "amount"),
             ("send_scheduler_message", "content"), ("dep_graph", "task_id"),
             ("task_search", "task_str"), ("disable_worker", "worker"),
             ("set_worker_processes", "n"), ("get_task_status_message", "task_id")]:
    data = {k: VALID[t] for k, t in METHODS[m].items() if k != a}
    case("missing_arg", rpc(m, data), FOURXX, "%s without its required %s" % (m, a))

# Unknown methods and method-name tricks: 404 as luigid.
for name in ["no_such_method", "resources", "load", "dump", "__init__", "_update_priority",
             "ping/../pause", "PING", "ping%00", "%ff"]:
    case("unknown_method", req("POST", "/api/" + name,
                               ["Content-Type: application/x-www-form-urlencoded"], b"data={}"),
         [400, 404], "not an RPC method: 404 (400 for a capture that is not UTF-8)")

# --- hostile values ------------------------------------------------------------------
HUGE = "T" * 2_000_000
for m, data, why in [
    ("add_task", {"task_id": HUGE, "worker": 7}, "a 2 MB task id (with a bad worker)"),
    ("task_search", {"task_str": HUGE[:200000], "bogus": 1}, "a 200 kB search string"),
    ("add_task", {"task_id": "X()", "worker": "hostile-w", "params": {"p": "v" * 2_000_000}, "priority": "high"},
     "2 MB of params with a bad priority"),
]:
    case("enormous", rpc(m, data), FOURXX, why + ": refused (413 over the body limit, or 400)")
case("enormous", req("POST", "/api/ping", ["Content-Type: application/x-www-form-urlencoded"],
                     b"data=" + b"%20" * 4_000_000),
     FOURXX, "a 12 MB body, over the default body limit: 413")
case("enormous", req("GET", "/api/task_list?data=" + "%7B%7D" * 30000), FOURXX,
     "a 180 kB query string: 431 or 414")

# NaN/Infinity: json.loads accepts them; where a number is wanted and the value is
# absurd, refuse it; where luigid would store it, the case says so.
for m, data, why in [
    ("set_worker_processes", '{"worker": "hostile-w", "n": NaN}', "NaN worker processes"),
    ("set_worker_processes", '{"worker": "hostile-w", "n": Infinity}', "infinite worker processes"),
    ("update_resource", '{"resource": "hostile-r", "amount": NaN}', "NaN resource amount"),
    ("update_resource", '{"resource": "hostile-r", "amount": -Infinity}', "-inf resource amount"),
    ("task_list", '{"status": "", "max_shown_tasks": NaN}', "NaN as a limit"),
]:
    case("nan_inf", rpc(m, data), ["4xx"], why + ": refused, no use for a non-finite count")
for m, data, why in [
    ("task_list", '{"status": "", "max_shown_tasks": Infinity}',
     "luigid compares the count with inf: no limit (read-only)"),
    ("task_list", '{"status": "", "max_shown_tasks": -Infinity}',
     "luigid: every list is 'too many', answered with num_tasks (read-only)"),
]:
    case("nan_inf", rpc(m, data, via="get"), [200], why)
for m, data, why in [
    ("add_task", '{"task_id": "NaNTask()", "worker": "hostile-nan", "priority": NaN}',
     "luigid stores priority NaN and echoes it"),
    ("add_task_batcher", '{"worker": "hostile-nan", "task_family": "F", "batched_args": [], "max_batch_size": Infinity}',
     "the worker's default max_batch_size is Infinity"),
    ("add_task", '{"task_id": "Neg()", "worker": "hostile-neg", "priority": -1e308}',
     "luigid accepts any number as a priority"),
    ("add_task", '{"task_id": "NegRes()", "worker": "hostile-neg", "resources": {"r": -5}}',
     "luigid accepts negative resource needs (they only make the task fit more easily)"),
    ("update_resource", '{"resource": "neg", "amount": -3}',
     "luigid stores any int amount; a negative one blocks every task that needs it"),
]:
    case("nan_inf", rpc(m, data), [200], why, mutates=True)
for data, why in [
    ('{"resource": "hostile-r", "amount": "-3"}', "amount as a string"),
    ('{"resource": "hostile-r", "amount": 1.5}', "fractional amount"),
]:
    case("negative", rpc("update_resource", data), FOURXX, why)

# Unknown statuses: luigid asserts on add_task; task_list with an unknown status lists nothing.
for st in ["BOGUS", "pending", "", "DONE ", "UNKNOWN", "BATCH_RUNNING\u0000", "RUNNING,DONE"]:
    case("unknown_status", rpc("add_task", {"task_id": "S()", "worker": 9, "status": st}),
         FOURXX, "unknown add_task status %r with a bad worker" % st)
for st in ["BOGUS", "pending", "../../etc"]:
    case("unknown_status", rpc("task_list", {"status": st}, via="get"), [200],
         "task_list with an unknown status lists nothing in luigid (read-only)")
    case("unknown_status", rpc("task_list", {"status": "", "upstream_status": st}, via="get"), [200],
         "unknown upstream_status filters nothing out in luigid (read-only)")

# --- path traversal -------------------------------------------------------------------
for p in ["/static/../Cargo.toml", "/static/..%2f..%2fCargo.toml", "/static/%2e%2e/%2e%2e/etc/passwd",
          "/static/visualiser/../../../../etc/passwd", "/static//etc/passwd",
          "/static/visualiser/%00index.html", "/static/..\\..\\Cargo.toml",
          "/static/%c0%ae%c0%ae/etc/passwd", "/static/", "/static/visualiser",
          "/static/visualiser/./../../src/main.rs", "/static/%252e%252e/Cargo.toml",
          "/static/....//....//etc/passwd", "/static/visualiser/index.html%00.js",
          "/static/\u00e9/../../x"]:
    case("traversal", req("GET", urllib.parse.quote(p, safe="/%.\\:")), FOURXX,
         "must not leave the static root: 403 (escaping, directory) or 404")
for p in ["/history/by_id/..%2f..%2fetc", "/history/by_name/../../etc/passwd",
          "/history/by_task_id/%00", "/tasklist/..%2f..", "/history/by_params/x?data=%7B",
          "/history/by_id/-1", "/history/by_id/99999999999999999999999",
          "/history/by_id/abc"]:
    case("traversal", req("GET", p), ["2xx", "4xx"],
         "history lookups: a page or a clear 4xx; luigid's 500 for 'nothing found' is not copied")

# --- SQL metacharacters in history lookups --------------------------------------------
for s in ["' OR '1'='1", "x'; DROP TABLE tasks; --", '"; DELETE FROM task_events; --',
          "%", "_", "\\", "x' UNION SELECT sqlite_version() --", "1 OR 1=1", "')--",
          "\u0000'", "a%25b", "*"]:
    q = urllib.parse.quote(s, safe="")
    case("sql", req("GET", "/history/by_name/" + q), ["2xx", "4xx"],
         "SQL metacharacters are data: a page listing nothing, or a 4xx")
    case("sql", req("GET", "/history/by_task_id/" + q), ["2xx", "4xx"],
         "SQL metacharacters in a task id: a page or a 4xx, never a 5xx")
for s in ["1 OR 1=1", "1; DROP TABLE tasks"]:
    case("sql", req("GET", "/history/by_id/" + urllib.parse.quote(s, safe="")), ["2xx", "4xx"],
         "a non-numeric id: a 4xx, never an SQL error")
case("sql", req("GET", "/history/by_params/T?data=" + urllib.parse.quote('{"a": "\' OR 1=1 --"}', safe="")),
     ["2xx", "4xx"], "SQL metacharacters in params")
case("sql", req("GET", "/history/by_params/T?data=" + urllib.parse.quote('[1', safe="")),
     ["2xx", "4xx"], "broken JSON in by_params")

# --- CORS header injection ------------------------------------------------------------
for origin, why in [
    ("http://a\r\nSet-Cookie: x=1", "CRLF + a header"),
    ("http://a\nX-Injected: 1", "bare LF + a header"),
    ("http://a\rX-Injected: 1", "bare CR"),
    ("http://a\r\n\r\nHTTP/1.1 200 OK", "CRLF CRLF + a fake response"),
    ("http://a\x00b", "NUL"),
]:
    raw = ("GET /api/is_paused HTTP/1.1\r\nHost: t\r\nConnection: close\r\nOrigin: %s\r\n\r\n"
           % origin).encode("latin-1")
    case("cors", raw, ["2xx", "4xx"],
         "header injection through Origin: " + why + ": CR/LF ends the Origin line (what follows "
         "is another request header, or a 400), and no response header may carry it")
for origin in ["http://a%0d%0aX-Injected:%201", "http://" + "o" * 8000, "null", "*"]:
    raw = ("OPTIONS /api/is_paused HTTP/1.1\r\nHost: t\r\nConnection: close\r\nOrigin: %s\r\n"
           "Access-Control-Request-Method: POST\r\n\r\n" % origin).encode("latin-1")
    case("cors", raw, ["2xx", "4xx"],
         "odd but well-formed Origin on a preflight: answered, the value never split into headers")


def main():
    with open(OUT, "w") as f:
        json.dump(CASES, f, indent=0, ensure_ascii=True)
        f.write("\n")
    cats = {}
    for c in CASES:
        cats[c["category"]] = cats.get(c["category"], 0) + 1
    print(len(CASES), "cases", cats)


if __name__ == "__main__":
    main()
