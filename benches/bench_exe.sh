# Sourced by the bench scripts. bench_exe NAME: the path of a bench executable as cargo
# built it (its file name carries a hash).
bench_exe() {
  cargo bench --no-run --bench "$1" --message-format=json 2>/dev/null |
    python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == sys.argv[1]:
        print(m["executable"])' "$1" | tail -n 1
}
