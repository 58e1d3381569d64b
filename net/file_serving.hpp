// Rules for serving files over HTTP, kept apart from Beast so they are cheap to
// compile and easy to test: MIME types, URL path → safe relative path, byte
// ranges (RFC 9110 §14, one range) and ETag matching for If-None-Match.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tessera::net {

// Content-Type for a file name by its extension ("application/octet-stream"
// when unknown). .js/.mjs → application/javascript, .wasm → application/wasm.
std::string mime_type(std::string_view file_name);

// Turns the path part of a request target (no query) into a relative file path
// that cannot leave its root: percent-decodes, splits on '/', and rejects
// (nullopt) any segment that is empty (except a trailing slash), ".", "..",
// starts with '.', or holds '\\', ':' or a control byte, and bad %-escapes.
// "/a/b.js" → "a/b.js"; "/" → "" (the root itself).
std::optional<std::string> safe_relative_path(std::string_view url_path);

// Whether a safe relative path (see above) under the static dir is one of the
// node's own pages' files: under browser/ or core/ (the worker page, its
// module worker and what they import) or dashboard/ (the dashboard), with a
// web asset's extension (.html, .mjs, .js, .css, .wasm, .svg, .png, .ico).
// Nothing else there is served (package.json, node_modules/, tests, tools).
bool is_page_file(std::string_view rel);

// Whether `name` (the part after /ort/) is an onnxruntime-web dist file the
// page loads: a plain file name starting with "ort" and ending in .mjs or
// .wasm (the ort.*.mjs bundles and the ort-wasm-simd-threaded.* runtimes).
bool is_ort_file(std::string_view name);

// A single byte range resolved against a file of `size` bytes.
struct byte_range {
  std::uint64_t first = 0;  // inclusive
  std::uint64_t last = 0;   // inclusive
  std::uint64_t length() const { return last - first + 1; }
};

enum class range_kind {
  whole,          // no usable Range header (absent, not "bytes=", several ranges, malformed): send 200
  partial,        // one satisfiable range: send 206
  unsatisfiable,  // send 416 with Content-Range: bytes */size
};

struct range_request {
  range_kind kind = range_kind::whole;
  byte_range range;
};

// Parses a Range header value ("bytes=0-99", "bytes=100-", "bytes=-20").
range_request parse_range(std::string_view header, std::uint64_t size);

// True when an If-None-Match value ("*", or a list of possibly weak entity
// tags) matches `etag` (given with its quotes, e.g. "\"ab12\"").
bool etag_matches(std::string_view if_none_match, std::string_view etag);

}  // namespace tessera::net
