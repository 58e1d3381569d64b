#!/bin/bash
# How many shard cuts a node keeps on disk: scripts/shard_cuts.sh TESSERA REPO WORKDIR LABEL [SHARD_BUDGET]
# Starts `tessera node` with no local workers on the small model, joins 8 node
# workers one at a time (unequal memory and claimed speed, so most joins find
# a better plan), then four of them leave; after each, waits for the plan to
# serve and counts the cuts on disk.
set -u
TESSERA=$1 REPO=$2 WORK=$3 LABEL=$4 BUDGET=${5:-}
MODEL=$WORK/model
[ -f $MODEL/model.onnx ] || $TESSERA model build --preset small --out $MODEL >/dev/null 2>&1 || exit 1
D=$WORK/$LABEL; rm -rf $D; mkdir -p $D
{
  echo '[node]'; echo 'listen = "127.0.0.1:0"'; echo "port_file = \"$D/port\""
  echo "shard_dir = \"$D/shards\""; echo "static_dir = \"$REPO/webworker\""
  [ -n "$BUDGET" ] && echo "shard_budget = \"$BUDGET\""
  echo '[model]'; echo "dir = \"$MODEL\""
  echo '[runtime]'; echo 'settle_ms = 200'
} > $D/node.toml
$TESSERA node --config $D/node.toml > $D/node.log 2>&1 &
NODE=$!
for i in $(seq 100); do [ -s $D/port ] && break; sleep 0.2; done
PORT=$(cat $D/port)
status() { curl -s http://127.0.0.1:$PORT/api/status; }
PIDS=()
MEM=(400MB 200MB 300MB 150MB 250MB 500MB 180MB 350MB)
FLOPS=(1e9 3e9 2e9 5e9 4e9 8e9 6e9 7e9)
for i in $(seq 0 7); do
  node $REPO/webworker/node/worker.mjs --url ws://127.0.0.1:$PORT/ws/worker --memory ${MEM[$i]} \
    --name w$i --no-benchmark --flops ${FLOPS[$i]} > $D/w$i.log 2>&1 &
  PIDS+=($!)
  # until this worker is in the inventory and a plan serves with no migration in flight
  for t in $(seq 600); do
    s=$(status)
    if [ "$(echo "$s" | jq "(.workers | length) == $((i + 1)) and .ready and (.migration == null)")" = true ]; then break; fi
    sleep 0.2
  done
  sleep 1  # the settle timer (200 ms) may still re-plan after the join
  for t in $(seq 600); do [ "$(status | jq '.ready and (.migration == null)')" = true ] && break; sleep 0.2; done
  echo "join $((i + 1)): plan v$(status | jq .plan_version), cuts on disk $(ls $D/shards/*/ | wc -l), $(du -sm $D/shards | cut -f1) MB"
done
for i in 5 3 1 6; do  # then four leave, one at a time
  kill ${PIDS[$i]}
  for t in $(seq 600); do
    s=$(status)
    if [ "$(echo "$s" | jq "(.workers | map(.name) | index(\"w$i\")) == null and .ready and (.migration == null)")" = true ]; then break; fi
    sleep 0.2
  done
  sleep 1
  for t in $(seq 600); do [ "$(status | jq '.ready and (.migration == null)')" = true ] && break; sleep 0.2; done
  echo "w$i left: plan v$(status | jq .plan_version), cuts on disk $(ls $D/shards/*/ | wc -l), $(du -sm $D/shards | cut -f1) MB"
done
echo "$LABEL: cuts made $(grep -c 'shards cut dir' $D/node.log), on disk $(ls $D/shards/*/ | wc -l), $(du -sm $D/shards | cut -f1) MB"
kill ${PIDS[@]} 2>/dev/null; kill $NODE; wait $NODE 2>/dev/null
