#!/usr/bin/env bash
# Cutter benchmark: split a large model into 8 stages and compare time and peak
# RSS against (a) a plain copy of the model's data file (the I/O floor) and
# (b) the model's size. Not a test: run by hand.
#
#   bench/model/split_bench.sh [TESSERA] [WORKDIR] [LAYERS]
#
# defaults: TESSERA=build/tessera, WORKDIR=/tmp/tessera-split-bench, LAYERS=72
# (the medium preset with 72 layers: ~4.3 GB of fp32 weights).
set -euo pipefail
TESSERA=${1:-build/tessera}
WORK=${2:-/tmp/tessera-split-bench}
LAYERS=${3:-72}
MODEL=$WORK/medium-$LAYERS
OUT=$WORK/stages
mkdir -p "$WORK"

if [[ ! -f $MODEL/model.onnx ]]; then
  echo "building medium --layers $LAYERS into $MODEL ..."
  "$TESSERA" model build --preset medium --layers "$LAYERS" --out "$MODEL" >/dev/null
fi
model_bytes=$(( $(stat -c %s "$MODEL/model.onnx") + $(stat -c %s "$MODEL/model.onnx.data") ))

# 8 contiguous stages of (almost) equal size.
stages=""
for i in $(seq 0 7); do
  a=$(( LAYERS * i / 8 )); b=$(( LAYERS * (i + 1) / 8 ))
  stages+="${stages:+,}$a:$b"
done

# Warm the page cache the same way for both runs.
cat "$MODEL/model.onnx.data" >/dev/null

measure() {  # prints "seconds max_rss_kib" of the command
  local log; log=$(mktemp)
  /usr/bin/time -v "$@" >/dev/null 2>"$log" || { cat "$log" >&2; rm -f "$log"; return 1; }
  local wall rss
  wall=$(awk -F': ' '/Elapsed \(wall clock\)/ {print $2}' "$log" | awk -F: '{ if (NF==3) print $1*3600+$2*60+$3; else print $1*60+$2 }')
  rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$log")
  rm -f "$log"
  echo "$wall $rss"
}

# Both runs include `sync`, so the written bytes reach the disk in both (the
# page cache would otherwise hide the copy's writes).
rm -rf "$WORK/copy.data" "$OUT"; sync
read -r copy_s copy_rss < <(measure sh -c "cp '$MODEL/model.onnx.data' '$WORK/copy.data' && sync")
rm -f "$WORK/copy.data"; sync
cat "$MODEL/model.onnx.data" >/dev/null
read -r split_s split_rss < <(measure "$TESSERA" model split "$MODEL" --stages "$stages" --out "$OUT")
read -r sync_s _ < <(measure sync)
split_s=$(awk -v a="$split_s" -v b="$sync_s" 'BEGIN { print a + b }')
read -r inspect_s inspect_rss < <(measure "$TESSERA" model inspect "$MODEL" --json)
stage_bytes=$(du -cb "$OUT"/stage_*.onnx "$OUT"/stage_*.onnx.data | tail -1 | cut -f1)

awk -v mb="$model_bytes" -v sb="$stage_bytes" -v cs="$copy_s" -v ss="$split_s" -v sr="$split_rss" \
    -v is="$inspect_s" -v ir="$inspect_rss" -v st="$stages" -v layers="$LAYERS" 'BEGIN {
  printf "model: medium --layers %d, %.2f GiB (model.onnx + data)\n", layers, mb / 2^30
  printf "stages: %s -> %.2f GiB written\n", st, sb / 2^30
  printf "split 8 stages (+ sync): %.2f s, peak RSS %.1f MiB\n", ss, sr / 1024
  printf "cp of the data file + sync (I/O floor): %.2f s\n", cs
  printf "inspect: %.2f s, peak RSS %.1f MiB\n", is, ir / 1024
  printf "ratio split time / cp time: %.2f\n", ss / cs
  printf "ratio split peak RSS / model size: %.4f\n", sr * 1024 / mb
}'
