// Inspector: reads a decoder-only ONNX LLM (model.onnx, without loading its
// external weights) and finds its layers and the tensors that cross each layer
// boundary from the graph's structure (producer/consumer analysis), then
// reports the per-layer costs the planner consumes.
//
// Conventions (the names model/build writes and Optimum exports): inputs input_ids,
// attention_mask, position_ids, past_key_values.N.key|value; outputs logits,
// present.N.key|value. Works on Optimum-style graphs (one residual tensor per
// boundary, shared prelude) and onnxruntime-genai-style graphs (two tensors
// cross a boundary). Node names are never needed.
//
// "Per token" numbers are for one new token at batch 1: symbolic dims such as
// batch / sequence_length are taken as 1.
#pragma once

#include <string>

#include "model/base/model_stats.hpp"

namespace tessera::model {

// Accepts a model directory (uses DIR/model.onnx) or an .onnx file. Throws
// model_error naming the file and the problem: not ONNX, corrupt protobuf, not
// a decoder (no past/present pairs, no logits, layers that cannot be ordered).
model_stats inspect_model(const std::string& onnx_file_or_model_dir);

}  // namespace tessera::model
