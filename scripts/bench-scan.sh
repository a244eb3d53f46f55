#!/usr/bin/env bash
# Compares `laminar scan --json` with `rg --json` on the same synthetic manifest tree and
# prints both wall times and ratio=laminar/rg (target: ratio <= 1.0), for two trees:
#  inline — references written `registry/name:tag`, found by rg with one pattern;
#  helm   — chart values with the image split into `repository:` and `tag:` keys (laminar
#           parses those files as YAML; rg matches the two lines with one multiline pattern).
#
#   scripts/bench-scan.sh [FILES] [TOTAL_MB] [PERCENT_WITH_REFS] [FORMS]
#   (defaults: 20000 200 3 "inline helm")
#
# Exits non-zero only when the two tools disagree on the number of references, never because
# of a time.
set -euo pipefail

files=${1:-20000}
total_mb=${2:-200}
percent=${3:-3}
forms=${4:-inline helm}
runs=${RUNS:-5}
prefix="1122334455.dkr.ecr.eu-west-2.amazonaws.com/acmecorp"

cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --release --quiet
laminar=$PWD/target/release/laminar

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for form in $forms; do
tree=$work/tree-$form
python3 - "$tree" "$files" "$total_mb" "$percent" "$prefix" "$form" <<'PY'
import os, random, sys
root, files, total_mb, percent, prefix, form = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), sys.argv[5], sys.argv[6]
rng = random.Random(42)
size = total_mb * 1024 * 1024 // files
words = "apiVersion kind metadata name namespace labels spec replicas template containers env value resources limits cpu memory port".split()
keys = iter(range(1 << 40))
def filler_line():
    if form == "helm":
        # Valid YAML throughout: unique top-level keys, decoys under another registry.
        if rng.random() < 0.02:
            return f"k{next(keys)}:\n  repository: ghcr.io/other/app-{rng.randint(1, 99)}\n  tag: develop-{rng.randint(1, 999)}\n"
        return f"k{next(keys)}: {' '.join(rng.choice(words) for _ in range(rng.randint(1, 6)))}\n"
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
            if form == "helm":
                line = f"k{next(keys)}:\n  image:\n    repository: {prefix}/svc-{rng.randint(1, 300)}\n    tag: {quote}{tag}{quote}\n"
            else:
                line = f"    image: {quote}{prefix}/svc-{rng.randint(1, 300)}:{tag}{quote}\n"
        else:
            line = filler_line()
        lines.append(line)
        length += len(line)
    with open(os.path.join(d, f"manifest-{i}.yaml"), "w") as f:
        f.writelines(lines)
PY

rg_args=()
pattern="${prefix//./\\.}/[a-z0-9-]+:[A-Za-z0-9_][A-Za-z0-9_.-]*"
if [ "$form" = helm ]; then
  rg_args=(--multiline)
  pattern="repository: ${prefix//./\\.}/[a-z0-9-]+\n +tag: [\"']?[A-Za-z0-9_][A-Za-z0-9_.-]*"
fi
echo "== $form"
du -sh "$tree" | awk '{print "tree: " $1}'
echo "files: $(find "$tree" -type f | wc -l)"

laminar_refs=$("$laminar" scan "$tree" --json --registry "$prefix" | wc -l)
rg_refs=$(rg "${rg_args[@]}" --count-matches --no-filename "$pattern" "$tree" | awk '{s += $1} END {print s + 0}')
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
rg "${rg_args[@]}" --json "$pattern" "$tree" >/dev/null
t_laminar=$(best "$laminar" scan "$tree" --json --registry "$prefix")
t_rg=$(best rg "${rg_args[@]}" --json "$pattern" "$tree")
ratio=$(awk -v a="$t_laminar" -v b="$t_rg" 'BEGIN {printf "%.2f", a / b}')
echo "$form: laminar=${t_laminar}s rg=${t_rg}s ratio=$ratio (target <= 1.0)"
done
