#!/usr/bin/env bash
# Run every benchmark of benchmarks/ and print their tables; each writes its JSON to
# benchmarks/results/. BENCH_QUICK=1 runs small sizes (a few minutes) instead of the
# documented ones (about half an hour on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${BENCH_QUICK:-0}" = 1 ]; then
  data_rows=(100000 1000000); drift_rows=(100000); serving=(--seconds 5 --rows 200000)
else
  data_rows=(1000000 10000000); drift_rows=(1000000); serving=(--seconds 15 --rows 1000000)
fi

echo "== setup and train-local";  uv run python benchmarks/setup/run.py --train-local
echo "== data layer";             uv run python benchmarks/data/run.py --rows "${data_rows[@]}"
echo "== drift check";            uv run python benchmarks/drift/run.py --rows "${drift_rows[@]}"
echo "== serving, hostile bodies and batch"; uv run python benchmarks/serving/run.py "${serving[@]}"
