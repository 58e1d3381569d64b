// Guards between untrusted JSON text and nlohmann::json: a depth check that
// runs on the raw bytes before any tree is built (nlohmann's dump, compare
// and destructor recurse once per level, so a 60,000-deep array overflows the
// stack), and dumping that never throws on invalid UTF-8 (type_error 316) for
// values quoted back in error messages.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json_fwd.hpp>

namespace tessera::actors {

// The problem with `text` when its arrays and objects nest deeper than
// `max_depth` ("JSON nests deeper than 64 levels (limits.max_json_depth) at
// byte 70"), else nullopt. Linear, no allocation; brackets inside strings
// do not count. Malformed text is left to the parser.
std::optional<std::string> json_depth_problem(std::string_view text, std::size_t max_depth);

// A JSON value for an error message: compact, invalid UTF-8 replaced by
// U+FFFD, cut to `max_bytes` with "..." when longer.
std::string json_excerpt(const nlohmann::json& value, std::size_t max_bytes = 64);

// dump() that replaces invalid UTF-8 instead of throwing.
std::string dump_json(const nlohmann::json& value);

}  // namespace tessera::actors
