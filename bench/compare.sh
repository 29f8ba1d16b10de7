#!/usr/bin/env bash
# One-epoch training-step benchmark, Burn (every compiled backend) vs PyTorch eager on CPU, in the
# same run, alternating, so both see the same machine state. See BENCHMARKS.md for the method.
#   bench/compare.sh [config.toml] [repeats]
# KERNELS="fused generic" times both implementations of the layers (default: fused only).
set -euo pipefail
cd "$(dirname "$0")/.."
config=${1:-configs/fashion-mnist.toml}
repeats=${2:-3}
threads=${THREADS:-$(nproc)}
bin=${NEURONA_BIN:-${CARGO_TARGET_DIR:-target}/release/neurona}
[ -x "$bin" ] || cargo build --release
# The PyTorch side runs the config's network: a conv2d layer -> the CNN, an lstm or gru layer ->
# that recurrent net (bench/torch_layers.py), otherwise the MLP (bench/torch_mlp.py). Comments are
# ignored.
layers=$(sed 's/#.*//' "$config")
key='(^|[^[:alnum:]_-])type[[:space:]]*=[[:space:]]*'
if grep -Eq "$key[\"']conv2d[\"']" <<<"$layers"; then
  torch_cmd=(python3 bench/torch_layers.py --model cnn)
elif grep -Eq "$key[\"']lstm[\"']" <<<"$layers"; then
  torch_cmd=(python3 bench/torch_layers.py --model lstm)
elif grep -Eq "$key[\"']gru[\"']" <<<"$layers"; then
  torch_cmd=(python3 bench/torch_layers.py --model gru)
else
  torch_cmd=(python3 bench/torch_mlp.py)
fi
# Same Adam epsilon as the config (Burn's default differs from PyTorch's).
eps=$(sed -n 's/^epsilon *= *\([^ #]*\).*/\1/p' "$config")
out=$(mktemp)
for _ in $(seq "$repeats"); do
  for kernels in ${KERNELS:-fused}; do
    "$bin" --kernels "$kernels" bench "$config" >>"$out"
  done
  "${torch_cmd[@]}" --threads "$threads" --epochs 1 --eps "${eps:-1e-8}" >>"$out"
done
python3 - "$out" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
torch = [r["median_epoch_seconds"] for r in rows if r["framework"] == "pytorch"]
t = statistics.median(torch)
pt = next(r for r in rows if r["framework"] == "pytorch")
print(f"pytorch {pt['version']} ({pt.get('model', 'mlp')}): median {t:.3f} s/epoch over {len(torch)} runs, peak RSS {max(r['peak_rss_mb'] for r in rows if r['framework']=='pytorch'):.0f} MiB")
for backend, kernels in sorted({(r["backend"], r["kernels"]) for r in rows if r["framework"] == "burn"}):
    b = [r for r in rows if r.get("backend") == backend and r.get("kernels") == kernels]
    s = statistics.median(r["seconds"] for r in b)
    print(f"burn {backend} ({kernels} kernels, {b[0]['simd']}): median {s:.3f} s/epoch ({b[0]['steps']} steps), "
          f"peak RSS {max(r['peak_rss_mb'] for r in b):.0f} MiB, ratio burn/pytorch = {s / t:.2f}")
PY
rm -f "$out"
