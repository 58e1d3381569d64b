#!/usr/bin/env bash
# `make demo`: the model path end to end on the default model. Builds the
# `small` preset (once), splits it into three uneven pipeline stages, and runs a
# greedy generation through the chained stages in onnxruntime-node next to the
# whole model, printing both texts, whether they match, and timings.
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:-build}
tessera=$build/tessera
model=$build/models/small
split=$build/models/small-split-3

step() { printf '\n== %s\n' "$*"; }

if [[ ! -f $model/model.onnx ]]; then
  step "building the default model (preset small) into $model"
  "$tessera" model build --preset small --out "$model"
fi

step "inspecting $model"
"$tessera" model inspect "$model"

step "splitting into 3 uneven stages: layers 0-1, 2-6, 7-11"
rm -rf "$split"
"$tessera" model split "$model/model.onnx" --stages 0:2,2:7,7:12 --head greedy --out "$split"

step "greedy generation: chained stages vs the whole model (onnxruntime-node)"
node webworker/tools/chain_demo.mjs --model "$model" --split "$split" \
  --prompt "Tessera cuts a model into pieces." --tokens 32
