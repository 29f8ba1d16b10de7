#!/usr/bin/env bash
# Remote device over loopback vs this machine's CPU, in the same run, alternating (BENCHMARKS.md,
# "Remote devices and the data path"). Needs a binary built with `--features remote`.
#   bench/remote.sh [repeats]
# 1. `neurona bench` (469 steps of the shipped 784-512-10 MLP, batch 128): local flex streamed and
#    resident, and one flex device served by `neurona device-server` on 127.0.0.1, streamed and
#    resident; the remote lines carry the bytes per step both ways (a counting relay).
# 2. Two full training epochs of configs/fashion-mnist.toml (54,000 + 6,000 validation images)
#    with each data path, locally and on the remote device: each epoch's seconds and counted
#    host<->device copies from metrics.json (the first epoch of a resident run includes copying
#    the image set to the device).
set -euo pipefail
cd "$(dirname "$0")/.."
repeats=${1:-3}
bin=${NEURONA_BIN:-target/release/neurona}
work=$(mktemp -d)
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
"$bin" device-server --backend flex --port 0 >"$work/server.log" 2>&1 &
server=$!
for _ in $(seq 50); do grep -q ws:// "$work/server.log" 2>/dev/null && break; sleep 0.1; done
url=$(grep -o 'ws://[0-9.:]*' "$work/server.log" | head -1)
config="$work/fashion.toml"
sed -e "s#^dir = \"artifacts\"#dir = \"$work/runs\"#" -e 's/^epochs = .*/epochs = 2/' \
  configs/fashion-mnist.toml >"$config"
printf '[remote]\nhosts = ["%s"]\n' "$url" >>"$config"
echo "device server: $url" >&2
for i in $(seq "$repeats"); do
  for backend in flex remote; do
    "$bin" bench "$config" --backend "$backend"
    "$bin" bench "$config" --backend "$backend" --resident
  done
done
for i in $(seq "$repeats"); do
  for run in flex:streamed flex:resident remote:resident; do
    backend=${run%%:*} path=${run##*:}
    sed "s/^data_path = .*/data_path = \"$path\"/" "$config" >"$work/epoch.toml"
    "$bin" train "$work/epoch.toml" --backend "$backend" --force >/dev/null
    python3 - "$work/runs/epoch/metrics.json" "$backend" "$path" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
for e in m["epochs"]:
    print(json.dumps({"run": "fashion-mnist", "epoch": e["epoch"], "backend": sys.argv[2],
                      "data_path": sys.argv[3], "seconds": e["seconds"],
                      "transfers": e["transfers"], "valid_accuracy": e["valid_accuracy"]}))
PY
  done
done
