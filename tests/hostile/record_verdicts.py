"""Record what the real luigid and luigid-rs answer to the RPC cases of the corpus.

    LUIGID_RS_BIN=target/release/luigid-rs .venv/bin/python tests/hostile/record_verdicts.py

Writes verdicts.json: sha1 of the raw request -> [luigid status, luigid-rs status].
gen_corpus.py reads it to decide each RPC case's expectation (see RULES there); run this,
then gen_corpus.py, whenever RPC cases change.
"""
import hashlib
import json
import os
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, HERE)

from servers import start_luigid, start_luigid_rs  # noqa: E402
import gen_corpus  # noqa: E402
import test_corpus as T  # noqa: E402


def main():
    cases = [c for c in gen_corpus.CASES if c["category"] in gen_corpus.RPC_CATEGORIES]
    res = {}
    for i, start in enumerate((start_luigid, start_luigid_rs)):
        d = tempfile.mkdtemp()
        srv = start(d)
        port = T.port_of(srv)
        try:
            for c in cases:
                raw = T.expand(c["raw"])
                got = T.exchange(port, raw, timeout=10)
                key = hashlib.sha1(raw).hexdigest()
                res.setdefault(key, [None, None])[i] = T.parse(got)[0] if got else None
        finally:
            srv.stop()
    with open(os.path.join(HERE, "verdicts.json"), "w") as f:
        json.dump(res, f, indent=0, sort_keys=True)
        f.write("\n")
    print(len(res), "verdicts")


if __name__ == "__main__":
    main()
