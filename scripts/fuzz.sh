#!/usr/bin/env bash
# Runs each fuzz target of fuzz/ for a given time (cargo-fuzz, libFuzzer), two at a time, seeded
# with the project's own valid files; prints executions and findings per target.
#   cargo install cargo-fuzz            # once
#   scripts/fuzz.sh [seconds per target=600]
# cargo-fuzz wants a nightly compiler; RUSTC_BOOTSTRAP lets the stable one take its flags.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-600}
export RUSTC_BOOTSTRAP=1
corpus=fuzz/corpus
mkdir -p $corpus/idx $corpus/csv $corpus/config $corpus/image
cp data/*.csv $corpus/csv/ 2>/dev/null || true
cp configs/*.toml $corpus/config/
for f in /usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz; do [ -f "$f" ] && cp "$f" $corpus/idx/; done
cargo fuzz build --release -s none
run() {
  cargo fuzz run --release -s none "$1" "$corpus/$1" -- -max_total_time="$seconds" -rss_limit_mb=4096 \
    > "fuzz/$1.log" 2>&1 && echo "$1: no crash" || echo "$1: CRASH (see fuzz/$1.log and fuzz/artifacts/$1)"
  grep -E '^(#[0-9]+|Done)' "fuzz/$1.log" | tail -1
}
run idx & run csv & wait
run config & run image & wait
