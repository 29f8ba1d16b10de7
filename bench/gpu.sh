#!/usr/bin/env bash
# GPU benchmark for a lent device machine (see BENCHMARKS.md): the 784-512-10 MNIST-epoch workload
# (469 steps × 128, Adam) on Burn's wgpu backend next to PyTorch CUDA eager, in the same call, plus
# PyTorch's full training+validation epoch (`torch_mlp.py --full-epoch`) and one full
# `neurona train` of configs/fashion-mnist.toml on wgpu.
# Expects, carried into the repository root:
#   .gl/*.deb     Vulkan/GL loader packages (device README: apt-get download libvulkan1 libegl1 …)
#   .gpu/neurona.xz  a release binary built with `cargo build --release --features wgpu`, stripped
#                    and xz-compressed (the carried tree is limited to 64 MiB)
#   .gpu/*.gz     the four Fashion-MNIST IDX files
set -u
out=${OUT:-/tmp/neurona-gpu}
mkdir -p "$out"
for f in .gl/*.deb; do dpkg -x "$f" /; done
ldconfig
if ! ls /usr/share/vulkan/icd.d/*nvidia* /etc/vulkan/icd.d/*nvidia* >/dev/null 2>&1; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
fi
nvidia-smi -L
python3 -c "import lzma, shutil; shutil.copyfileobj(lzma.open('.gpu/neurona.xz'), open('.gpu/neurona', 'wb'))"
chmod +x .gpu/neurona
config="$out/fashion-gpu.toml"
sed -e 's#^\# dir = "..." .*#dir = ".gpu"#' -e "s#^dir = \"artifacts\"#dir = \"$out/runs\"#" configs/fashion-mnist.toml >"$config"
B=.gpu/neurona
echo "== burn wgpu, first run (shader compilation and autotuning included)"
timeout 300 "$B" bench "$config" --backend wgpu | tee -a "$out/bench.jsonl"
for i in 1 2 3; do
  echo "== round $i"
  timeout 120 "$B" bench "$config" --backend wgpu | tee -a "$out/bench.jsonl"
  timeout 120 python3 bench/torch_mlp.py --device cuda --data-dir .gpu --epochs 3 --threads 16 --eps 1e-8 | tee -a "$out/bench.jsonl"
  # A full epoch (54,000 training rows + 6,000 validation rows, standardised), compared against the
  # per-epoch `seconds` (training and validation) that `neurona train` records in metrics.json for
  # the wgpu run at the end of this script.
  timeout 120 python3 bench/torch_mlp.py --full-epoch --device cuda --data-dir .gpu --epochs 3 --threads 16 --eps 1e-8 | tee -a "$out/bench.jsonl"
done
echo "== burn flex on this machine's CPU, for reference"
timeout 120 "$B" bench "$config" --backend flex | tee -a "$out/bench.jsonl"
echo "== full training on wgpu"
time (timeout 300 "$B" train "$config" --backend wgpu 2>&1 | tail -40 | tee "$out/train.log")
cp "$out/runs/fashion-gpu/metrics.json" "$out/metrics.json" 2>/dev/null
