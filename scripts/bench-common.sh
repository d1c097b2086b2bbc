# Shared by the bench-*.sh scripts (sourced, not run).

# start_ceiling_serve BIN CPU LOG: starts `BIN serve` pinned to CPU on 127.0.0.1:0, its output in
# LOG; waits (20 s at most) for the address it prints. Sets `server_pid` and `addr`
# (http://127.0.0.1:PORT); exits 1 when the server dies or never prints it.
start_ceiling_serve() {
  local bin=$1 cpu=$2 log=$3
  taskset -c "$cpu" "$bin" serve --bind 127.0.0.1:0 --cpus "$cpu" >"$log" 2>&1 &
  server_pid=$!
  addr=
  for _ in $(seq 400); do
    addr=$(grep -o 'listening on http://[^ ]*' "$log" | head -n1 | sed 's/listening on //' || true)
    [ -n "$addr" ] && return 0
    kill -0 "$server_pid" 2>/dev/null || { cat "$log" >&2; exit 1; }
    sleep 0.05
  done
  echo "ceiling serve did not print its address within 20 s" >&2
  exit 1
}

# need_two_cpus NAME: exits 1 unless the machine has 2+ CPUs (server on CPU 0, load on CPU 1).
need_two_cpus() {
  if [ "$(nproc --all)" -lt 2 ]; then
    echo "$1: needs at least 2 CPUs (server on CPU 0, generator on CPU 1)" >&2
    exit 1
  fi
}
