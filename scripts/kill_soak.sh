#!/usr/bin/env bash
# Kill-9 soak test of training runs (issue 10): N trials, each starts a small Fashion-MNIST run,
# SIGKILLs it at a random moment, then resumes it (killing the resume too, now and then) until
# it finishes. Checks after each trial: every epoch recorded exactly once and in order, the test
# evaluation present, model.bpk matching its checksum; counts epochs trained again after a kill.
#   scripts/kill_soak.sh [trials=50] [neurona binary=target/release/neurona]
set -euo pipefail
trials=${1:-50}
bin=${2:-target/release/neurona}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
epochs=6
cat > "$work/soak.toml" <<TOML
[data]
dataset = "fashion-mnist"
train_limit = 20000
test_limit = 1000
[model]
hidden = [256]
[training]
epochs = $epochs
[output]
dir = "$work/runs"
name = "soak"
TOML
run="$work/runs/soak"
lost_total=0; kills=0; worst=0
for trial in $(seq 1 "$trials"); do
  rm -rf "$run"
  args=(train "$work/soak.toml")
  while :; do
    before=$(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))['epochs']))" "$run/metrics.json" 2>/dev/null || echo 0)
    "$bin" "${args[@]}" > "$work/out.txt" 2>&1 &
    pid=$!
    # Kill at a random moment of a run (one takes about 4-6 s here), or let it finish.
    delay=$(python3 -c "import random; print(round(random.uniform(0.05, 6.0), 2))")
    sleep "$delay"
    killed=0
    if kill -9 "$pid" 2>/dev/null; then
      wait "$pid" 2>/dev/null || true
      kills=$((kills + 1)); killed=1
    elif ! wait "$pid"; then
      # Killed after the run had finished all its work: resuming it has nothing left to do.
      grep -q "already completed $epochs epochs" "$work/out.txt" && break
      echo "trial $trial: failed after $delay s"; cat "$work/out.txt"; exit 1
    fi
    # Epochs recorded before this process started but trained again by it.
    start=$(grep -o 'resuming at epoch [0-9]*' "$work/out.txt" | grep -o '[0-9]*$' || true)
    # A resume that found no loadable checkpoint starts again at epoch 1.
    [ -z "$start" ] && grep -q '^epoch   1/' "$work/out.txt" && start=1
    if [ -n "$start" ]; then
      lost=$(( before - (start - 1) )); [ "$lost" -lt 0 ] && lost=0
      lost_total=$((lost_total + lost)); [ "$lost" -gt "$worst" ] && worst=$lost
    fi
    [ "$killed" = 1 ] || break
    args=(train "$work/soak.toml" --resume)
    [ -f "$run/config.toml" ] || args=(train "$work/soak.toml" --force)
  done
  python3 - "$run" "$epochs" <<'PY'
import hashlib, json, sys
run, epochs = sys.argv[1], int(sys.argv[2])
m = json.load(open(f"{run}/metrics.json"))
got = [e["epoch"] for e in m["epochs"]]
assert got == list(range(1, epochs + 1)), f"epochs recorded {got}"
assert m["test"] and m["test"]["images"] == 1000, "no test evaluation"
digest = open(f"{run}/model.bpk.sha256").read().split()[0]
assert hashlib.sha256(open(f"{run}/model.bpk", "rb").read()).hexdigest() == digest, "checksum"
PY
done
echo "trials $trials, kills $kills, epochs trained again after a kill: total $lost_total, worst $worst per resume"
