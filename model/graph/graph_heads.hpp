// Token heads the cutter appends to the last stage, built from standard
// opset-13+ ONNX ops on the logits of the LAST position, so only token ids
// leave the pipeline.
//
// greedy: next_token = argmax(logits[:, -1, :]) (first index on ties).
// sample: with inputs temperature [1], top_k int64 [1], top_p [1], random [batch]:
//   temperature <= 0 -> greedy. Otherwise sort logits/temperature descending
//   (ties: lower index first), softmax; keep the first top_k (0 = off); of those,
//   renormalised, keep the smallest prefix whose mass reaches top_p (1 = off);
//   pick the first kept token whose cumulative kept mass exceeds
//   random * (total kept mass) (the last kept one if rounding leaves none).
//   This mirrors webworker/core/sampler.mjs.
#pragma once

#include <string>

#include <onnx/onnx_pb.h>

#include "model/graph/graph_cutter.hpp"

namespace tessera::model {

// Appends the head's nodes, inputs and the `next_token` output to `graph`,
// reading the tensor `logits`: [batch, seq, vocab] float (logits_rank 3), or
// [batch, vocab] for graphs that already keep only the last position
// (logits_rank 2). For token_head::logits nothing is added. Throws
// model_error if opset < 13 or the rank is neither.
void append_token_head(onnx::GraphProto& graph, const std::string& logits, token_head head, int64_t opset,
                       int logits_rank = 3);

}  // namespace tessera::model
