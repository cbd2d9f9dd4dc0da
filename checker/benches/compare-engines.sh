#!/usr/bin/env bash
# Compares the engines on one scenario, in one run, with `klpcheck check
# --format json` stats: native, stateright-bfs and stateright-dfs at 1 and 2
# threads, no symmetry, no liveness pass (engine time only), best of N runs,
# plus peak memory (GNU time). Prints a Markdown table and the ratios.
#   usage: checker/benches/compare-engines.sh [SPEC] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/../.."
spec=${1:-specs/bench/bench-replace-3tasks.json}
runs=${2:-3}
cargo build --release -q -p klp-checker
bin=target/release/klpcheck
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "| engine | threads | unique states | seconds (best of $runs) | unique states/s | peak RSS MiB |"
echo "|---|---|---|---|---|---|"
for e in native stateright-bfs stateright-dfs; do
  for t in 1 2; do
    best=""
    for _ in $(seq "$runs"); do
      /usr/bin/time -o "$tmp/time" -f "%M" "$bin" check "$spec" --engine "$e" --threads "$t" \
        --no-symmetry --no-liveness --no-coverage --quiet --format json > "$tmp/r.json" 2>/dev/null || true
      line=$(python3 - "$tmp/r.json" "$tmp/time" <<'PY'
import json, sys
r = json.loads(open(sys.argv[1]).readline()); s = r["stats"]
mem = int(open(sys.argv[2]).read().split()[-1]) // 1024
print(f'{s["unique_states"]} {s["seconds"]:.3f} {int(s["states_per_second"])} {mem}')
PY
)
      if [ -z "$best" ] || python3 -c "import sys; sys.exit(0 if float('$(echo "$line" | cut -d' ' -f2)') < float('$(echo "$best" | cut -d' ' -f2)') else 1)"; then
        best=$line
      fi
    done
    read -r u s r m <<<"$best"
    echo "| $e | $t | $u | $s | $r | $m |"
    echo "$e $t $s $m" >> "$tmp/all"
  done
done
python3 - "$tmp/all" <<'PY'
import sys
d = {}
for l in open(sys.argv[1]):
    e, t, s, m = l.split(); d[(e, int(t))] = (float(s), int(m))
n1, n2 = d[("native", 1)][0], d[("native", 2)][0]
print()
print(f"native 2 threads vs stateright-bfs 2 threads: {d[('stateright-bfs', 2)][0] / n2:.2f}x")
print(f"native 2 threads vs stateright-dfs 2 threads: {d[('stateright-dfs', 2)][0] / n2:.2f}x")
print(f"native 1 -> 2 threads: {n1 / n2:.2f}x")
print(f"peak memory native 2 / stateright-bfs 2: {d[('native', 2)][1] / d[('stateright-bfs', 2)][1]:.2f}")
PY
