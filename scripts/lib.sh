# Shell helpers shared by the demo and the benchmarks; source it.

# A free TCP port on loopback.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Runs a command until it succeeds, for up to 30 s.
wait_for() {
  for _ in $(seq 300); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  "$@"
}

# Starts Debian's docker-registry with its storage in DIR on a free loopback port; sets
# `registry` (host:port) and `registry_pid`, and returns once it answers.
start_registry() {
  local dir=$1
  registry=127.0.0.1:$(free_port)
  mkdir -p "$dir"
  cat > "$dir/registry.yml" <<YAML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $dir/data
http:
  addr: $registry
YAML
  docker-registry serve "$dir/registry.yml" >"$dir/registry.log" 2>&1 &
  registry_pid=$!
  wait_for curl -fs "http://$registry/v2/"
}
