// Graph cutter: cuts a decoder-only ONNX LLM into pipeline stages [a, b) that
// each run as a standalone ONNX model, and writes OUT/manifest.json (format in
// stage_manifest.hpp).
//
// A stage's inputs: the boundary tensors at a (input_ids for a = 0),
// attention_mask, position_ids and past_key_values of its layers; its outputs:
// the boundary tensors at b (same names as the next stage's inputs) and the
// present.* of its layers; the last stage ends in the token head. The prelude
// (mask, rotary tables) is recomputed in every stage. Each stage keeps only the
// initializers it uses, streamed into its own data file stage_A_B.onnx.data
// (the model's weights are never all in memory).
#pragma once

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace tessera::model {

// What leaves the last stage.
//  logits: output `logits` float32 [batch, seq, vocab] (tests)
//  greedy: output `next_token` int64 [batch] = argmax of the last position's logits
//  sample: extra inputs temperature float32 [1], top_k int64 [1] (0 = off),
//          top_p float32 [1] (1 = off), random float32 [batch] in [0,1);
//          output `next_token` int64 [batch]
enum class token_head { logits, greedy, sample };

std::string to_string(token_head head);
// "logits" | "greedy" | "sample"; throws model_error naming the bad value.
token_head parse_token_head(const std::string& text);

struct stage_range {
  int begin = 0;  // first layer
  int end = 0;    // one past the last layer
};

// Parses "0:2,2:5,5:8" and checks it covers [0, num_layers) in order without
// overlap or gap; throws model_error naming the bad entry.
std::vector<stage_range> parse_stage_list(const std::string& text, int num_layers);
// Same checks on an already parsed list.
void validate_stage_list(const std::vector<stage_range>& stages, int num_layers);

struct tensor_spec {
  std::string name;
  std::string dtype;                                    // "float32" | "int64" | ...
  std::vector<std::variant<int64_t, std::string>> shape;  // symbolic dims by name
};

struct stage_info {
  std::string file;       // relative to the output dir, e.g. "stage_0_2.onnx"
  std::string data_file;  // e.g. "stage_0_2.onnx.data"
  stage_range layers;
  std::string id;         // sha256 hex of (cutter format, model hash, range, head of the last stage)
  uint64_t bytes = 0;     // .onnx + .onnx.data bytes
  std::vector<tensor_spec> inputs;
  std::vector<tensor_spec> outputs;
  std::vector<std::string> warnings;  // e.g. a data file over the browser's 2 GB buffer limit
};

struct split_options {
  std::vector<stage_range> stages;
  token_head head = token_head::greedy;
  bool run_checker = true;  // onnx checker on every written stage
};

struct split_result {
  std::string out_dir;
  std::string model_hash;  // sha256 over model.onnx and the bytes of every external initializer (plan-independent)
  int num_layers = 0;
  std::vector<stage_info> stages;
  std::vector<std::string> warnings;  // analysis and stage warnings, for the user
};

// Writes the stages and manifest.json into out_dir. Everything is written to a
// temporary sibling directory first and renamed at the end, so a failure leaves
// nothing half-written; an existing out_dir is replaced only on success.
// Throws model_error naming the problem (bad stages, missing data file, not a
// decoder, checker failure, ...).
split_result split_model(const std::string& onnx_file_or_model_dir, const std::string& out_dir,
                         const split_options& options);

}  // namespace tessera::model
