#!/usr/bin/env bash
# This machine's ceiling in one command (until `ceiling machine` exists):
# starts `ceiling serve` on the first half of the CPUs, waits for its printed
# address, runs the generator pinned to the other half, then stops the server.
# Usage: scripts/quick-ceiling.sh [DURATION] [CONNECTIONS]
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10s}
conns=${2:-64}
cargo build --release --quiet --bin ceiling
bin=./target/release/ceiling

ncpu=$(nproc)
if [ "$ncpu" -ge 2 ]; then
  half=$((ncpu / 2))
  server_cpus="0-$((half - 1))"
  gen_cpus="$half-$((ncpu - 1))"
  gen_threads=$((ncpu - half))
else
  server_cpus=0; gen_cpus=0; gen_threads=1
fi

out=$(mktemp -d)
trap 'kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; rm -rf "$out"' EXIT
"$bin" serve --bind 127.0.0.1:0 --cpus "$server_cpus" >"$out/serve.log" &
server_pid=$!

# Wait for the printed address (readiness), at most 20 s.
addr=
for _ in $(seq 200); do
  addr=$(grep -o 'listening on http://[^ ]*' "$out/serve.log" | head -n1 | sed 's/listening on //' || true)
  [ -n "$addr" ] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$out/serve.log"; exit 1; }
  sleep 0.1
done
[ -n "$addr" ] || { echo "ceiling serve did not start" >&2; exit 1; }
head -n1 "$out/serve.log"

"$bin" --cpus "$gen_cpus" -t "$gen_threads" -c "$conns" -d "$duration" --latency "$addr/plaintext"
