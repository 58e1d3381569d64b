#!/usr/bin/env bash
# `make federation-demo`: three federated nodes on loopback serving one pool
# (configs/federation/{a,b,c}.toml, docs/federation.md). Imports the shipped
# default model once, starts nodes a, b and c (each with two local workers
# that cannot hold the model, so the plan crosses nodes), waits until every
# node shows the same cross-node plan, prints it, sends the same prompt to
# each node's /ws/generate, prints the replies (equal: one plan serves them
# all), and stops everything. Every wait is bounded; exit 0 on success.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
tessera=$build/tessera
run=$(mktemp -d "${TMPDIR:-/tmp}/tessera-federation-demo.XXXXXX")
ids=(a b c)
declare -A pid gw=([a]=8100 [b]=8101 [c]=8102) fed=([a]=7100 [b]=7101 [c]=7102)  # as in configs/federation/

cleanup() {
  for id in "${ids[@]}"; do
    if [[ -n ${pid[$id]:-} ]] && kill -0 "${pid[$id]}" 2>/dev/null; then
      kill -TERM "${pid[$id]}" 2>/dev/null || true
    fi
  done
  for id in "${ids[@]}"; do
    [[ -n ${pid[$id]:-} ]] && wait "${pid[$id]}" 2>/dev/null || true
  done
  rm -rf "$run"
}
trap cleanup EXIT INT TERM
step() { printf '\n== %s\n' "$*"; }

model_dir=build/models/kjv-bierce-19m
if [[ ! -f $model_dir/model.onnx ]]; then
  step "importing models/kjv-bierce-19m (tessera model build --from-hf)"
  "$tessera" model build --from-hf models/kjv-bierce-19m --out "$model_dir"
fi

for id in "${ids[@]}"; do
  for port in "${gw[$id]}" "${fed[$id]}"; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "port $port (node $id) is in use: stop what listens there first" >&2
      exit 1
    fi
  done
done

step "starting nodes a, b and c (logs under $run)"
for id in "${ids[@]}"; do
  "$tessera" node --config "configs/federation/$id.toml" >"$run/$id.log" 2>&1 &
  pid[$id]=$!
  echo "node $id: gateway http://127.0.0.1:${gw[$id]}, federation 127.0.0.1:${fed[$id]}"
done

step "the pool's plan (the leader plans over every node's workers)"
if ! node scripts/federation_demo_plan.mjs 300 "http://127.0.0.1:${gw[a]}" "http://127.0.0.1:${gw[b]}" \
    "http://127.0.0.1:${gw[c]}"; then
  for id in "${ids[@]}"; do echo "--- node $id"; tail -15 "$run/$id.log"; done
  exit 1
fi

prompt="And God said unto Moses,"
for id in "${ids[@]}"; do
  step "prompt at node $id (ws://127.0.0.1:${gw[$id]}/ws/generate, greedy, 32 tokens)"
  printf '%s' "$prompt"
  timeout 120 "$tessera" prompt --url "ws://127.0.0.1:${gw[$id]}/ws/generate" --max-tokens 32 "$prompt" \
    2>"$run/timings-$id.txt" | tee "$run/reply-$id.txt"
  echo; cat "$run/timings-$id.txt"
done
if cmp -s "$run/reply-a.txt" "$run/reply-b.txt" && cmp -s "$run/reply-a.txt" "$run/reply-c.txt"; then
  echo; echo "the three replies are identical: one plan served every node's client"
else
  echo; echo "the replies differ between nodes" >&2
  exit 1
fi

step "stopping the nodes"
for id in "${ids[@]}"; do kill -TERM "${pid[$id]}"; done
for id in "${ids[@]}"; do
  if timeout 30 tail --pid="${pid[$id]}" -f /dev/null; then
    wait "${pid[$id]}" && echo "node $id stopped" || { echo "node $id exited with an error" >&2; exit 1; }
  else
    echo "node $id did not stop within 30 s" >&2
    exit 1
  fi
  pid[$id]=""
done
