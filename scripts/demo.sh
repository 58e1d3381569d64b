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

# --- a worker dies mid-reply (supervised local workers) ---------------------
# The same prompt again, as JSON; once a few tokens have streamed, the local
# worker serving the most layers is killed (SIGKILL). The node routes around it,
# restarts it (restart = "always"), and the reply must equal the one above.
step "killing a worker mid-reply: the reply must complete identically"
demo_prompt=(--max-tokens 48 "Tessera cuts a model into pieces.")
"$tessera" prompt --json --url "ws://127.0.0.1:$port/ws/generate" "${demo_prompt[@]}" >"$run/ref.jsonl"
victim=$(node -e '
  fetch(process.argv[1] + "/api/status").then((r) => r.json()).then((s) => {
    const span = (w) => (w.layers ? w.layers[1] - w.layers[0] : 0);
    const w = s.workers.filter((x) => x.layers).sort((a, b) => span(b) - span(a))[0];
    console.log(w ? w.name : "");
  });' "http://127.0.0.1:$port")
victim_pid=$(pgrep -P "$node_pid" -f -- "--name $victim( |$)" | head -1 || true)
[[ -n $victim && -n $victim_pid ]] || { echo "no serving local worker found" >&2; exit 1; }
"$tessera" prompt --json --url "ws://127.0.0.1:$port/ws/generate" "${demo_prompt[@]}" >"$run/killed.jsonl" &
prompt_pid=$!
for _ in $(seq 1 600); do  # up to 60 s for the first tokens
  (( $(grep -c '"token"' "$run/killed.jsonl" || true) >= 3 )) && break
  kill -0 "$prompt_pid" 2>/dev/null || break
  sleep 0.1
done
kill -KILL "$victim_pid" && echo "killed worker '$victim' (pid $victim_pid) after $(grep -c '"token"' "$run/killed.jsonl" || true) tokens"
wait "$prompt_pid" || { echo "the prompt failed after the kill" >&2; exit 1; }
tokens() { grep -o '"token":[0-9]*' "$1" | tr '\n' ' '; }
if [[ $(tokens "$run/ref.jsonl") == "$(tokens "$run/killed.jsonl")" ]]; then
  rebuilt=$(tail -1 "$run/killed.jsonl" | node -e 'let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
    const t = JSON.parse(s).timings ?? {}; console.log((t.replays ?? 0) + (t.input_replays ?? 0)); });')
  echo "the reply is identical ($(grep -c '"token"' "$run/killed.jsonl") tokens, KV rebuilt $rebuilt time(s) on the new route)"
else
  echo "the reply changed after the kill" >&2; exit 1
fi
node scripts/demo_plan.mjs "http://127.0.0.1:$port" 120 >/dev/null || { tail -20 "$run/node.log"; exit 1; }
for _ in $(seq 1 300); do  # the supervisor restarts it; wait until it rejoined
  new_pid=$(pgrep -P "$node_pid" -f -- "--name $victim( |$)" | head -1 || true)
  [[ -n $new_pid && $new_pid != "$victim_pid" ]] && grep -q "name=$victim joined" <(grep -A1000 "name=$victim restarted" "$run/node.log") && break
  sleep 0.1
done
echo "worker '$victim' restarted by the node (pid $victim_pid -> ${new_pid:-none}); plan now:"
node scripts/demo_plan.mjs "http://127.0.0.1:$port" 120 | sed 's/^/  /'
# --- end of the worker-kill step --------------------------------------------

step "shutting down"
kill -TERM "$node_pid"
wait "$node_pid" && echo "node stopped cleanly" || { echo "node exit status $?" >&2; exit 1; }
node_pid=""
