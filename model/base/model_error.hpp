// The error every model/ function throws for bad input: a message a user can
// act on (it names the file, tensor, layer or value at fault).
#pragma once

#include <stdexcept>

namespace tessera::model {

struct model_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace tessera::model
