#!/usr/bin/env bash
# Coordinated omission, measured: ceiling -R and wrk2 -R against the same stalling
# server (scripts/stall-server.py: answers held during the last STALL s of every
# PERIOD s), side by side with the analytic truth.
#
# Usage: WRK2=/path/to/wrk2 scripts/bench-co.sh
#   RATE=1000 CONNS=10 DURATION=20 PERIOD=1.0 STALL=0.2
# wrk2 is not packaged: build it from its public source (git clone
# https://github.com/giltene/wrk2 && make) and point WRK2 at the binary. Without it,
# only ceiling's row is printed.
set -euo pipefail
cd "$(dirname "$0")/.."

rate=${RATE:-1000}
conns=${CONNS:-10}
duration=${DURATION:-20}
period=${PERIOD:-1.0}
stall=${STALL:-0.2}
wrk2=${WRK2:-$(command -v wrk2 || true)}

cargo build --release --quiet --bin ceiling
bin=$PWD/target/release/ceiling
out=$(mktemp -d)
server_pid=
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null || true
  rm -rf "$out"
}
trap cleanup EXIT

taskset -c 0 python3 scripts/stall-server.py "$period" "$stall" >"$out/port" &
server_pid=$!
for _ in $(seq 100); do [ -s "$out/port" ] && break; sleep 0.1; done
port=$(head -n1 "$out/port")
url=http://127.0.0.1:$port/

echo "stalling server on CPU 0: period ${period}s, stall ${stall}s; load on CPU 1: -R $rate -c $conns -d ${duration}s" >&2
taskset -c 1 "$bin" --cpus 1 -t1 -c"$conns" -R"$rate" -d"${duration}s" --timeout 5s \
  --latency --u_latency --json "$out/ceiling.json" "$url" >"$out/ceiling.txt"
if [ -n "$wrk2" ]; then
  taskset -c 1 "$wrk2" -t1 -c"$conns" -R"$rate" -d"${duration}s" --u_latency --latency "$url" >"$out/wrk2.txt"
fi

python3 - "$out" "$period" "$stall" "${wrk2:+yes}" <<'PY'
import json, re, sys
out, P, S, have_wrk2 = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), sys.argv[4] == "yes"
qs = [50.0, 75.0, 90.0, 95.0, 99.0, 99.9]
share = S / P
def truth_ms(q):
    q /= 100
    return 0.0 if q <= 1 - share else S * (q - (1 - share)) / share * 1000
r = json.load(open(f"{out}/ceiling.json"))
def from_hist(lat, q):
    # ceiling's JSON table has 50/75/90/99/99.9; 95 is read from the .hgrm text instead.
    for p in lat["percentiles"]:
        if p["percentile"] == q:
            return p["value_us"] / 1000
    return None
def wrk_units(v):
    m = re.match(r"([\d.]+)(us|ms|s|m)", v)
    x, u = float(m.group(1)), m.group(2)
    return x / 1000 if u == "us" else x if u == "ms" else x * 1000 if u == "s" else x * 60000
def spectrum(text, title):
    # The .hgrm block after `title`: value (ms), percentile.
    block = text.split(title, 1)[1].split("Detailed Percentile spectrum:", 1)[1].split("#[Mean", 1)[0]
    rows = []
    for line in block.splitlines():
        f = line.split()
        if len(f) >= 3:
            try:
                rows.append((float(f[1]) * 100, float(f[0])))
            except ValueError:
                pass
    return rows
def at(rows, q):
    for p, v in rows:
        if p >= q - 1e-9:
            return v
    return rows[-1][1] if rows else float("nan")
ctext = open(f"{out}/ceiling.txt").read()
cols = {"truth (+ unstalled)": [truth_ms(q) for q in qs]}
crows = spectrum(ctext, "Recorded Latency")
urows = spectrum(ctext, "Uncorrected Latency")
cols["ceiling corrected"] = [at(crows, q) for q in qs]
cols["ceiling uncorrected"] = [at(urows, q) for q in qs]
if have_wrk2:
    wtext = open(f"{out}/wrk2.txt").read()
    cols["wrk2 corrected"] = [at(spectrum(wtext, "Recorded Latency"), q) for q in qs]
    cols["wrk2 uncorrected"] = [at(spectrum(wtext, "Uncorrected Latency"), q) for q in qs]
print("%-22s" % "latency (ms)" + "".join("%10s" % ("p%g" % q) for q in qs))
for name, vals in cols.items():
    print("%-22s" % name + "".join("%10.2f" % v for v in vals))
truth = cols["truth (+ unstalled)"]
for name in cols:
    if name.startswith("truth"):
        continue
    off = [(v - t) / t * 100 for v, t in zip(cols[name], truth) if t > 0]
    print("%-22s %s" % (name + " error", " ".join("p%g %+.0f%%" % (q, e) for q, e in zip([q for q, t in zip(qs, truth) if t > 0], off))))
print("ceiling verdict:", r["rate"]["verdict"])
PY
