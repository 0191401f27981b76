#!/usr/bin/env bash
# Reproduces the figures in BENCHMARKS.md on this machine, in one run:
#   bench/run.sh            engine at S, M, L; data plane (when root); NCA side by side (when installed)
#   bench/run.sh --xl       also the engine at XL (50k workloads / 10k policies)
# Results go to bench/results/*.json|md; BENCHMARKS.md quotes them.
set -euo pipefail
cd "$(dirname "$0")/.."
xl=0
[ "${1:-}" = "--xl" ] && xl=1
cargo build --release -p netfence-bench -p netfence-cli
out=bench/results
mkdir -p "$out"
{
  echo "date: $(date -u +%Y-%m-%dT%H:%MZ)"
  echo "commit: $(git rev-parse --short HEAD)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "cores: $(nproc)"
  echo "kernel: $(uname -r)"
  echo "nft: $(nft --version 2>/dev/null || echo none)"
} > "$out/machine.txt"
cat "$out/machine.txt"

bench=target/release/netfence-bench
run_engine() { # name workloads policies runs
  echo "engine $1 ($2 workloads, $3 policies)..."
  "$bench" engine --workloads "$2" --policies "$3" --runs "$4" > "$out/engine-$1.json"
}
run_engine S 100 20 5
run_engine M 1000 200 5
run_engine L 10000 2000 3
[ "$xl" = 1 ] && run_engine XL 50000 10000 1
for n in 500 2000 8000; do # many policies selecting the same pods
  echo "engine same-pods ($n policies)..."
  "$bench" engine --shape same-pods --workloads 0 --policies "$n" --runs 3 \
    --phases matrix,lint,report > "$out/engine-same-pods-$n.json"
done

if [ "$(id -u)" = 0 ] && command -v nft >/dev/null && command -v conntrack >/dev/null; then
  echo "data plane: compile + apply, one-policy changes..."
  "$bench" apply --workloads 1000 --policies 200 --changes 80 > "$out/apply-M.json"
  "$bench" apply --workloads 10000 --policies 2000 --changes 40 > "$out/apply-L.json"
  echo "data plane: new connections per second (10, 1k, 10k policies)..."
  "$bench" rate --policies 10,1000,10000 --seconds 2 --runs 5 > "$out/rate.json"
else
  echo "skipping the data plane: needs root, nft and conntrack" >&2
fi

if command -v nca >/dev/null && [ -f bench/nca.py ]; then
  echo "NCA side by side..."
  python3 bench/nca.py --netfence target/release/netfence
else
  echo "skipping NCA: pip install network-config-analyzer" >&2
fi
echo "results in $out/"
