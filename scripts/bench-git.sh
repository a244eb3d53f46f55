#!/usr/bin/env bash
# Git cost at monorepo scale, on generated repos of 10,000 and 100,000 files (1 KiB each, one
# image reference) served from a local path, against a local registry:
#  (1) cold first cycle (`laminar once`, empty dataDir) vs `git clone --depth 1` of the same
#      repo: wall time and ratio, and laminar's peak RSS;
#  (2) `laminar once` again, warm (memo and scan kept beside the workspace);
#  (3) an unrelated one-line commit, then `laminar once` (warm: one file moved and re-read);
#  (4) the daemon: a cycle after an unrelated commit, triggered through the API, and its
#      idle RSS;
#  (5) a whole-tree workspace (exec actions without `execPaths`): cold first cycle vs the clone.
# (1)–(4) use a partial workspace: the rules name `deploy/` only.
#
#   scripts/bench-git.sh [SIZES…]   (defaults: 10000 100000)
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
cargo build --release --quiet
python3 - "$PWD/target/release/laminar" "${@:-10000 100000}" <<'PY'
import os, shutil, subprocess, sys, tempfile, time, urllib.request
sys.path.insert(0, os.path.join(os.getcwd(), "scripts"))
import oci_push
from benchlib import free_port, start_registry

laminar = sys.argv[1]
sizes = [int(s) for arg in sys.argv[2:] for s in arg.split()]
work = tempfile.mkdtemp(prefix="laminar-bench-git-")
TOKEN = "bench-token"

def git(cwd, *args, stdin=None):
    return subprocess.run(["git", "-c", "user.name=Bench", "-c", "user.email=b@e", *args], cwd=cwd,
                          check=True, capture_output=True, input=stdin).stdout.decode().strip()

# Runs a command from a small parent, so its peak RSS is its own: a child forked from this
# script (which holds a generated repo in memory) would report this script's pages as its own.
MEASURE = """
import os, subprocess, sys, time
start = time.perf_counter()
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
_, status, usage = os.wait4(p.pid, 0)
took = time.perf_counter() - start
sys.stderr.write(p.stderr.read().decode())
print(status, took, usage.ru_maxrss / 1024)
"""

def timed(args, cwd):
    """Wall seconds and peak RSS (MB) of one command."""
    out = subprocess.run([sys.executable, "-c", MEASURE, *args], cwd=cwd, capture_output=True,
                         env=dict(os.environ, RUST_LOG="warn"))
    status, took, rss = out.stdout.decode().split()
    if status != "0":
        raise SystemExit(f"{args} failed: {out.stderr.decode()}")
    return float(took), float(rss)

reg, registry = start_registry(work)
procs = [registry]

def generate(n):
    """A bare repo of n files of 1 KiB, written with git fast-import."""
    bare = f"{work}/repo-{n}.git"
    git(work, "init", "--bare", "-q", "-b", "main", bare)
    filler = ("x" * 63 + "\n") * 16
    lines = ["commit refs/heads/main", "committer Bench <b@e> 1700000000 +0000", "data 4", "seed"]
    for i in range(n):
        body = f"file {i}\n{filler}"
        lines += [f"M 644 inline src/d{i // 1000}/f{i}.txt", f"data {len(body.encode())}", body]
    app = f"image: {reg}/bench/app:1.0.0\n"
    lines += ["M 644 inline deploy/app.yaml", f"data {len(app)}", app, ""]
    git(bare, "fast-import", "--quiet", stdin="\n".join(lines).encode())
    return bare

def outside_commit(bare, n):
    clone = f"{work}/outside-{n}"
    if not os.path.exists(clone):
        git(work, "clone", "-q", "--depth", "1", f"file://{bare}", clone)
    with open(f"{clone}/src/d0/f0.txt", "a") as f:
        f.write("one more line\n")
    git(clone, "commit", "-qam", "unrelated")
    git(clone, "push", "-q", "origin", "main")

def config(d, bare, port=0, extra=""):
    with open(f"{d}/laminar.yaml", "w") as f:
        f.write(f"global:\n  dataDir: state\n  listen: 127.0.0.1:{port}\n"
                f"dockerRegistries:\n- reg: {reg}/bench\n  insecure: true\n"
                f"git:\n- name: mono\n  url: file://{bare}\n  branch: main\n  pollFreq: 3600\n{extra}"
                f"  updates:\n  - pattern: semver:^1\n    files: [deploy/]\n")

def metric(base, prefix):
    text = urllib.request.urlopen(f"{base}/metrics").read().decode()
    return sum(float(l.rsplit(" ", 1)[1]) for l in text.splitlines() if l.startswith(prefix))

try:
    oci_push.push(reg, "bench/app", "1.0.0", "2024-01-01T00:00:00Z")
    for n in sizes:
        bare = generate(n)
        d = f"{work}/laminar-{n}"; os.makedirs(d); config(d, bare)
        cold, cold_rss = timed([laminar, "once"], d)
        clone, _ = timed(["git", "clone", "-q", "--depth", "1", f"file://{bare}", f"{work}/clone-{n}"], work)
        print(f"(1) {n} files: cold first cycle {cold:.2f}s (peak RSS {cold_rss:.0f}MB) vs git clone --depth 1 {clone:.2f}s: ratio={cold / clone:.2f} (target ≤ 1.2, peak ≤ 64MB)")
        warm, warm_rss = timed([laminar, "once"], d)
        print(f"(2) {n} files: once again, warm {warm * 1000:.0f}ms (peak RSS {warm_rss:.0f}MB)")
        outside_commit(bare, n)
        moved, _ = timed([laminar, "once"], d)
        print(f"(3) {n} files: once after an unrelated one-line commit {moved * 1000:.0f}ms")
        port = free_port(); config(d, bare, port)
        p = subprocess.Popen([laminar, "run"], cwd=d, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             env=dict(os.environ, LAMINAR_API_TOKEN=TOKEN, RUST_LOG="warn"))
        procs.append(p)
        base = f"http://127.0.0.1:{port}"
        while True:
            try:
                if urllib.request.urlopen(f"{base}/readyz", timeout=5).status == 200: break
            except Exception:
                time.sleep(0.05)
        outside_commit(bare, n)
        cycles = metric(base, "laminar_sync_total{"); seconds = metric(base, "laminar_sync_duration_seconds_sum")
        r = urllib.request.Request(f"{base}/api/v1/sync", data=b"", method="POST")
        r.add_header("Authorization", f"Bearer {TOKEN}"); urllib.request.urlopen(r)
        while metric(base, "laminar_sync_total{") < cycles + 1:
            time.sleep(0.01)
        took = metric(base, "laminar_sync_duration_seconds_sum") - seconds
        time.sleep(3)
        rss = int([l for l in open(f"/proc/{p.pid}/status") if l.startswith("VmRSS")][0].split()[1]) / 1024
        print(f"(4) {n} files: daemon cycle after an unrelated one-line commit {took * 1000:.0f}ms, idle RSS {rss:.1f}MB")
        p.terminate(); p.wait()
        whole = f"{work}/laminar-{n}-whole"; os.makedirs(whole); config(whole, bare, extra="  exec: [\"true\"]\n")
        took, rss = timed([laminar, "once"], whole)
        print(f"(5) {n} files: whole tree, cold first cycle {took:.2f}s (peak RSS {rss:.0f}MB) vs git clone --depth 1 {clone:.2f}s: ratio={took / clone:.2f}")
finally:
    for p in procs:
        p.kill()
    shutil.rmtree(work, ignore_errors=True)
PY
