#!/usr/bin/env bash
# Render the template with its defaults into $1 and run the generated project's main loop
# on the embedded defaults: setup, train-local, serve + a prediction, batch-inference,
# drift-check. No AWS account and no Docker needed.
set -euo pipefail

out="${1:-build/demo}"
root="$(cd "$(dirname "$0")/.." && pwd)"
project="$out/mlops-project"
port="${API_PORT:-8000}"

step() { printf '\n==> %s\n' "$*"; }

step "render the template with its defaults into $project"
rm -rf "$project"
uv run --project "$root" cookiecutter --no-input "$root" -o "$out"
cd "$project"

step "make setup"
make setup

step "make train-local"
make train-local

step "make serve (background, port $port) and POST /predict"
# A session of its own, so the whole server (uvicorn's reloader and worker) stops at exit.
setsid make serve API_PORT="$port" > serve.log 2>&1 &
server=$!
trap 'kill -- -"$server" 2>/dev/null || true' EXIT
uv run python - "$port" <<'PY'
import json, sys, time, urllib.request
from src.context import build_context

url = f"http://127.0.0.1:{sys.argv[1]}"
deadline = time.monotonic() + 180
while True:
    try:
        urllib.request.urlopen(f"{url}/ready", timeout=2)
        break
    except OSError:
        if time.monotonic() > deadline:
            sys.exit("the API did not become ready within 180 s; see serve.log")
        time.sleep(1)
context = build_context()
row = context.lake.read(context.view.table).to_pandas().iloc[0]
body = {"features": {name: float(row[name]) for name in context.view.feature_names}}
print("POST /predict", json.dumps(body)[:120] + " ...")
request = urllib.request.Request(
    f"{url}/predict", data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
)
print(urllib.request.urlopen(request, timeout=30).read().decode())
PY

step "make batch-inference"
make batch-inference

step "make drift-check"
make drift-check

step "done: the project is in $project (make help lists its targets)"
