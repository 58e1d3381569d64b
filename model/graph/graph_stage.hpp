// One pipeline stage [a, b) of an analysed decoder as a standalone ONNX model:
// the cutter's inner step (graph_cutter.hpp is the public API).
#pragma once

#include <map>
#include <string>

#include "model/graph/graph_analysis.hpp"
#include "model/graph/graph_cutter.hpp"

namespace tessera::model {

// Builds stage [range.begin, range.end) of `g`, streams its initializers from
// the source data files into `dir/<data_file>` and writes `dir/<file>`. Fills
// file, data_file, layers, inputs, outputs and bytes of the returned info (not id).
// Runs the onnx checker when `check` is set. Throws model_error.
// `weight_hashes` (initializer name -> sha256 hex of its bytes) gets an entry
// for every external initializer copied that it does not hold yet, so the
// caller can hash the model without a second pass over the data.
stage_info write_stage(const decoder_graph& g, stage_range range, token_head head, const std::string& dir, bool check,
                       std::map<std::string, std::string>& weight_hashes);

// sha256 hex of one external initializer's bytes, read from the source data file.
std::string hash_external_initializer(const decoder_graph& g, const onnx::TensorProto& tensor);

}  // namespace tessera::model
