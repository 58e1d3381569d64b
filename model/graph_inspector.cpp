// Inspector (stub until the implementation lands).
#include "model/graph_inspector.hpp"

#include "model/model_error.hpp"

namespace tessera::model {

model_stats inspect_model(const std::string& path) {
  throw model_error("inspect_model: not implemented yet (" + path + ")");
}

std::string model_stats_json(const model_stats&, int) { return "{}"; }

}  // namespace tessera::model
