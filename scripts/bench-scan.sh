#!/usr/bin/env bash
# Compares `laminar scan --json` with `rg --json` on the same synthetic manifest tree and
# prints both wall times and ratio=laminar/rg (target: ratio <= 1.2).
#
#   scripts/bench-scan.sh [FILES] [TOTAL_MB] [PERCENT_WITH_REFS]   (defaults: 20000 200 3)
#
# Exits non-zero only when the two tools disagree on the number of references, never because
# of a time.
set -euo pipefail

files=${1:-20000}
total_mb=${2:-200}
percent=${3:-3}
runs=${RUNS:-5}
prefix="1122334455.dkr.ecr.eu-west-2.amazonaws.com/acmecorp"

cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --release --quiet
laminar=$PWD/target/release/laminar

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
tree=$work/tree

python3 - "$tree" "$files" "$total_mb" "$percent" "$prefix" <<'PY'
import os, random, sys
root, files, total_mb, percent, prefix = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
rng = random.Random(42)
size = total_mb * 1024 * 1024 // files
words = "apiVersion kind metadata name namespace labels spec replicas template containers env value resources limits cpu memory port".split()
def filler_line():
    indent = " " * rng.choice([0, 2, 4, 6, 8])
    # Decoys: other registries and near misses that are not references under the prefix.
    if rng.random() < 0.02:
        return f"{indent}image: ghcr.io/other/app-{rng.randint(1, 99)}:develop-{rng.randint(1, 999)}\n"
    return f"{indent}{rng.choice(words)}: {' '.join(rng.choice(words) for _ in range(rng.randint(1, 6)))}\n"
for i in range(files):
    d = os.path.join(root, f"env-{i % 40}", f"team-{i % 13}")
    os.makedirs(d, exist_ok=True)
    lines, length = [], 0
    with_refs = rng.random() * 100 < percent
    while length < size:
        if with_refs and rng.random() < 0.05:
            tag = rng.choice([f"develop-{rng.randint(1, 9999)}", f"v1.{rng.randint(0, 40)}.{rng.randint(0, 9)}", f"release-{rng.randint(1, 99)}"])
            quote = rng.choice(["", "\"", "'"])
            line = f"    image: {quote}{prefix}/svc-{rng.randint(1, 300)}:{tag}{quote}\n"
        else:
            line = filler_line()
        lines.append(line)
        length += len(line)
    with open(os.path.join(d, f"manifest-{i}.yaml"), "w") as f:
        f.writelines(lines)
PY

pattern="${prefix//./\\.}/[a-z0-9-]+:[A-Za-z0-9_][A-Za-z0-9_.-]*"
du -sh "$tree" | awk '{print "tree: " $1}'
echo "files: $(find "$tree" -type f | wc -l)"

laminar_refs=$("$laminar" scan "$tree" --json --registry "$prefix" | wc -l)
rg_refs=$(rg --count-matches --no-filename "$pattern" "$tree" | awk '{s += $1} END {print s + 0}')
echo "references: laminar=$laminar_refs rg=$rg_refs"
if [ "$laminar_refs" != "$rg_refs" ]; then
  echo "the two tools disagree on the number of references" >&2
  exit 1
fi

# Best of $runs wall-clock seconds for a command, output discarded (both print JSON lines).
best() {
  python3 - "$runs" "$@" <<'PY'
import subprocess, sys, time
runs, cmd = int(sys.argv[1]), sys.argv[2:]
times = []
for _ in range(runs):
    start = time.perf_counter()
    subprocess.run(cmd, stdout=subprocess.DEVNULL, check=True)
    times.append(time.perf_counter() - start)
print(f"{min(times):.3f}")
PY
}

# Warm the page cache for both, then time them one after the other.
"$laminar" scan "$tree" --json --registry "$prefix" >/dev/null
rg --json "$pattern" "$tree" >/dev/null
t_laminar=$(best "$laminar" scan "$tree" --json --registry "$prefix")
t_rg=$(best rg --json "$pattern" "$tree")
ratio=$(awk -v a="$t_laminar" -v b="$t_rg" 'BEGIN {printf "%.2f", a / b}')
echo "laminar=${t_laminar}s rg=${t_rg}s ratio=$ratio (target <= 1.2)"
