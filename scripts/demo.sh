#!/usr/bin/env bash
# `make demo`: Tessera end to end on one machine. Imports the shipped default
# model (models/kjv-bierce-19m, a small Llama trained on public-domain English)
# with `tessera model build --from-hf`, starts a node with the embedded default
# config (that model and three local headless workers of unequal memory), waits
# until the plan is loaded, prints it, sends a prompt through the gateway
# WebSocket, streams the text, prints timings, and shuts everything down.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
tessera=$build/tessera
run=$(mktemp -d "${TMPDIR:-/tmp}/tessera-demo.XXXXXX")
node_pid=""

cleanup() {
  if [[ -n $node_pid ]] && kill -0 "$node_pid" 2>/dev/null; then
    kill -TERM "$node_pid" 2>/dev/null || true
    wait "$node_pid" 2>/dev/null || true
  fi
  rm -rf "$run"
}
trap cleanup EXIT INT TERM

step() { printf '\n== %s\n' "$*"; }

# The directory the embedded default config serves (configs/local.toml [model] dir).
model_src=models/kjv-bierce-19m
model_dir=build/models/kjv-bierce-19m
step "importing $model_src (tessera model build --from-hf)"
rm -rf "$model_dir"
"$tessera" model build --from-hf "$model_src" --out "$model_dir"

step "starting a node with three local workers (log: $run/node.log)"
"$tessera" node --listen 127.0.0.1:0 --port-file "$run/port" >"$run/node.log" 2>&1 &
node_pid=$!
for _ in $(seq 1 600); do
  [[ -s $run/port ]] && break
  kill -0 "$node_pid" 2>/dev/null || { cat "$run/node.log"; echo "the node exited early" >&2; exit 1; }
  sleep 0.1
done
[[ -s $run/port ]] || { cat "$run/node.log"; echo "the node did not start listening" >&2; exit 1; }
port=$(cat "$run/port")
echo "listening on 127.0.0.1:$port (worker page: http://127.0.0.1:$port/)"

step "plan (from /api/status, once every stage is loaded)"
node scripts/demo_plan.mjs "http://127.0.0.1:$port" 600 || { tail -20 "$run/node.log"; exit 1; }

prompt="And God said unto Moses,"
step "prompt over ws://127.0.0.1:$port/ws/generate (greedy, 48 tokens)"
printf '%s' "$prompt"
"$tessera" prompt --url "ws://127.0.0.1:$port/ws/generate" --max-tokens 48 "$prompt"

step "the same prompt, sampled (temperature 0.8, top-k 40, seed 7)"
printf '%s' "$prompt"
"$tessera" prompt --url "ws://127.0.0.1:$port/ws/generate" --max-tokens 48 \
  --temperature 0.8 --top-k 40 --top-p 0.95 --seed 7 "$prompt"

step "shutting down"
kill -TERM "$node_pid"
wait "$node_pid" && echo "node stopped cleanly" || { echo "node exit status $?" >&2; exit 1; }
node_pid=""
