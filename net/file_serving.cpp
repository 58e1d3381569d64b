// See file_serving.hpp.
#include "net/file_serving.hpp"

#include <algorithm>
#include <cctype>
#include <limits>
#include <vector>

namespace tessera::net {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decimal digits only; nullopt on anything else or overflow.
std::optional<std::uint64_t> parse_u64(std::string_view s) {
  if (s.empty()) return std::nullopt;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    const std::uint64_t d = static_cast<std::uint64_t>(c - '0');
    if (v > (std::numeric_limits<std::uint64_t>::max() - d) / 10) return std::nullopt;
    v = v * 10 + d;
  }
  return v;
}

bool bad_segment(const std::string& seg) {
  if (seg.empty() || seg.front() == '.') return true;  // covers "." and ".." and dotfiles
  for (unsigned char c : seg)
    if (c < 0x20 || c == 0x7f || c == '\\' || c == ':') return true;
  return false;
}

}  // namespace

std::string mime_type(std::string_view file_name) {
  const auto dot = file_name.rfind('.');
  const auto slash = file_name.rfind('/');
  if (dot == std::string_view::npos || (slash != std::string_view::npos && dot < slash))
    return "application/octet-stream";
  const std::string ext = lower(file_name.substr(dot + 1));
  if (ext == "html" || ext == "htm") return "text/html; charset=utf-8";
  if (ext == "js" || ext == "mjs") return "application/javascript";
  if (ext == "wasm") return "application/wasm";
  if (ext == "css") return "text/css; charset=utf-8";
  if (ext == "json" || ext == "map") return "application/json";
  if (ext == "txt" || ext == "md") return "text/plain; charset=utf-8";
  if (ext == "svg") return "image/svg+xml";
  if (ext == "png") return "image/png";
  if (ext == "ico") return "image/x-icon";
  return "application/octet-stream";  // .onnx, .data and anything else
}

std::optional<std::string> safe_relative_path(std::string_view url_path) {
  if (url_path.empty() || url_path.front() != '/') return std::nullopt;
  std::string decoded;
  decoded.reserve(url_path.size());
  for (std::size_t i = 0; i < url_path.size(); ++i) {
    if (url_path[i] != '%') {
      decoded.push_back(url_path[i]);
      continue;
    }
    if (i + 2 >= url_path.size()) return std::nullopt;
    const int hi = hex_value(url_path[i + 1]), lo = hex_value(url_path[i + 2]);
    if (hi < 0 || lo < 0) return std::nullopt;
    const char c = static_cast<char>(hi * 16 + lo);
    if (c == '/' || c == '\0') return std::nullopt;  // an encoded separator is never a file name
    decoded.push_back(c);
    i += 2;
  }
  std::string rel = decoded.substr(1);
  if (rel.empty()) return rel;
  if (rel.back() == '/') rel.pop_back();
  std::string seg;
  for (std::size_t i = 0; i <= rel.size(); ++i) {
    if (i == rel.size() || rel[i] == '/') {
      if (bad_segment(seg)) return std::nullopt;
      seg.clear();
    } else {
      seg.push_back(rel[i]);
    }
  }
  return rel;
}

namespace {

bool ends_with(std::string_view s, std::string_view tail) {
  return s.size() >= tail.size() && s.substr(s.size() - tail.size()) == tail;
}

}  // namespace

bool is_page_file(std::string_view rel) {
  if (rel.compare(0, 8, "browser/") != 0 && rel.compare(0, 5, "core/") != 0 && rel.compare(0, 10, "dashboard/") != 0)
    return false;
  const std::string name = lower(rel);
  for (const char* ext : {".html", ".mjs", ".js", ".css", ".wasm", ".svg", ".png", ".ico"})
    if (ends_with(name, ext)) return true;
  return false;
}

bool is_ort_file(std::string_view name) {
  if (name.find('/') != std::string_view::npos || name.compare(0, 3, "ort") != 0) return false;
  return ends_with(name, ".mjs") || ends_with(name, ".wasm");
}

range_request parse_range(std::string_view header, std::uint64_t size) {
  range_request out;
  header = trim(header);
  constexpr std::string_view unit = "bytes=";
  if (header.size() < unit.size() || lower(header.substr(0, unit.size())) != unit) return out;
  const std::string_view spec = trim(header.substr(unit.size()));
  if (spec.find(',') != std::string_view::npos) return out;  // several ranges: serve the whole file
  const auto dash = spec.find('-');
  if (dash == std::string_view::npos) return out;
  const std::string_view first_text = trim(spec.substr(0, dash));
  const std::string_view last_text = trim(spec.substr(dash + 1));

  if (first_text.empty()) {  // suffix range: the last N bytes
    const auto n = parse_u64(last_text);
    if (!n) return out;
    if (*n == 0 || size == 0) {
      out.kind = range_kind::unsatisfiable;
      return out;
    }
    out.kind = range_kind::partial;
    out.range.first = *n >= size ? 0 : size - *n;
    out.range.last = size - 1;
    return out;
  }
  const auto first = parse_u64(first_text);
  if (!first) return out;
  std::uint64_t last = size == 0 ? 0 : size - 1;
  if (!last_text.empty()) {
    const auto parsed = parse_u64(last_text);
    if (!parsed || *parsed < *first) return out;  // invalid range-spec: ignore the header
    last = std::min(last, *parsed);
  }
  if (*first >= size) {
    out.kind = range_kind::unsatisfiable;
    return out;
  }
  out.kind = range_kind::partial;
  out.range = {*first, last};
  return out;
}

bool etag_matches(std::string_view if_none_match, std::string_view etag) {
  if_none_match = trim(if_none_match);
  if (if_none_match == "*") return true;
  std::size_t start = 0;
  while (start <= if_none_match.size()) {
    auto comma = if_none_match.find(',', start);
    if (comma == std::string_view::npos) comma = if_none_match.size();
    std::string_view tag = trim(if_none_match.substr(start, comma - start));
    if (tag.size() >= 2 && (tag.substr(0, 2) == "W/" || tag.substr(0, 2) == "w/")) tag.remove_prefix(2);
    if (!tag.empty() && tag == etag) return true;  // weak comparison, as If-None-Match requires
    start = comma + 1;
  }
  return false;
}

}  // namespace tessera::net
