// Bodies of net/gateway_http.hpp: routing of plain HTTP requests, file
// serving with ETag/Range, /api/status, /api/live, /v1/models, /health,
// /metrics and /dashboard.
#include "net/gateway_http.hpp"

#include <filesystem>

#include <nlohmann/json.hpp>

#include "net/file_serving.hpp"

namespace tessera::net::gateway_http {

namespace fs = std::filesystem;

namespace {

// A response body that streams bytes [offset, offset + length) of an open file
// (Beast 1.81's file_body always sends the whole file, so no Range support).
struct file_slice_body {
  struct value_type {
    beast::file file;
    std::uint64_t offset = 0;
    std::uint64_t length = 0;
  };
  static std::uint64_t size(const value_type& body) { return body.length; }

  class writer {
  public:
    using const_buffers_type = asio::const_buffer;
    template <bool is_request, class Fields>
    writer(http::header<is_request, Fields>&, value_type& body) : body_(body) {}
    void init(beast::error_code& ec) {
      body_.file.seek(body_.offset, ec);
      remain_ = body_.length;
    }
    boost::optional<std::pair<const_buffers_type, bool>> get(beast::error_code& ec) {
      ec = {};
      if (remain_ == 0) return boost::none;
      const std::size_t want = remain_ < sizeof(buf_) ? static_cast<std::size_t>(remain_) : sizeof(buf_);
      const std::size_t got = body_.file.read(buf_, want, ec);
      if (ec) return boost::none;
      if (got == 0) {
        ec = http::error::short_read;
        return boost::none;
      }
      remain_ -= got;
      return {{const_buffers_type(buf_, got), remain_ > 0}};
    }

  private:
    value_type& body_;
    std::uint64_t remain_ = 0;
    char buf_[64 * 1024];
  };
};

// Request targets may hold any bytes: never let them make dump() throw.
std::string dump_json(const nlohmann::json& j) {
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

http::message_generator text_response(const request_t& req, http::status status, std::string body,
                                      std::string content_type, const char* cache = "no-store") {
  http::response<http::string_body> res{status, req.version()};
  add_common_headers(res);
  res.set(http::field::content_type, content_type);
  res.set(http::field::cache_control, cache);
  res.keep_alive(req.keep_alive());
  const auto n = body.size();
  if (req.method() != http::verb::head) res.body() = std::move(body);
  res.content_length(n);
  return res;
}

}  // namespace

http::message_generator json_error(const request_t& req, http::status status, const std::string& message) {
  nlohmann::json body{{"error", message}, {"path", std::string(req.target())}};
  return text_response(req, status, dump_json(body), "application/json");
}

http::message_generator unauthorized(const request_t& req, const std::string& code, const std::string& message,
                                     bool openai_shape) {
  const nlohmann::json body =
      openai_shape ? nlohmann::json{{"error",
                                     {{"message", message},
                                      {"type", "invalid_request_error"},
                                      {"param", nullptr},
                                      {"code", code}}}}
                   : nlohmann::json{{"error", message}, {"code", code}, {"path", std::string(req.target())}};
  http::response<http::string_body> res{http::status::unauthorized, req.version()};
  add_common_headers(res);
  res.set(http::field::content_type, "application/json");
  res.set(http::field::cache_control, "no-store");
  res.set(http::field::www_authenticate, "Bearer realm=\"tessera\"");
  res.keep_alive(req.keep_alive());
  res.body() = dump_json(body);
  res.prepare_payload();
  return res;
}

namespace {

// Serves a file with optional shard semantics (ETag + immutable caching).
// Range requests are honoured for every file.
http::message_generator serve_file(const request_t& req, const fs::path& file_path,
                                   const std::string& etag /* "" for none */) {
  beast::error_code ec;
  std::error_code fs_ec;
  if (!fs::is_regular_file(file_path, fs_ec)) return json_error(req, http::status::not_found, "not found");
  file_slice_body::value_type body;
  body.file.open(file_path.c_str(), beast::file_mode::scan, ec);
  if (ec) return json_error(req, http::status::not_found, "cannot open file: " + ec.message());
  const std::uint64_t size = body.file.size(ec);
  if (ec) return json_error(req, http::status::internal_server_error, "cannot size file: " + ec.message());

  const std::string content_type = mime_type(file_path.filename().string());
  const char* cache = etag.empty() ? "no-cache" : "public, max-age=31536000, immutable";
  auto set_headers = [&](auto& res) {
    add_common_headers(res);
    res.set(http::field::cache_control, cache);
    res.set(http::field::accept_ranges, "bytes");
    if (!etag.empty()) res.set(http::field::etag, etag);
    res.keep_alive(req.keep_alive());
  };

  if (!etag.empty() && req.count(http::field::if_none_match) &&
      etag_matches(req[http::field::if_none_match], etag)) {
    http::response<http::empty_body> res{http::status::not_modified, req.version()};
    set_headers(res);
    return res;
  }

  range_request range;
  if (req.count(http::field::range)) {
    // If-Range with another validator means "the file changed: send it whole".
    const bool if_range_ok = !req.count(http::field::if_range) ||
                             (!etag.empty() && req[http::field::if_range] == etag);
    if (if_range_ok) range = parse_range(req[http::field::range], size);
  }
  if (range.kind == range_kind::unsatisfiable) {
    http::response<http::string_body> res{http::status::range_not_satisfiable, req.version()};
    set_headers(res);
    res.set(http::field::content_range, "bytes */" + std::to_string(size));
    res.set(http::field::content_type, "application/json");
    res.body() = dump_json(nlohmann::json{{"error", "range not satisfiable"}, {"size", size}});
    res.prepare_payload();
    return res;
  }

  http::status status = http::status::ok;
  body.offset = 0;
  body.length = size;
  if (range.kind == range_kind::partial) {
    status = http::status::partial_content;
    body.offset = range.range.first;
    body.length = range.range.length();
  }
  // The same headers for HEAD (no body) and GET.
  auto set_content_headers = [&](auto& res) {
    set_headers(res);
    res.set(http::field::content_type, content_type);
    if (status == http::status::partial_content)
      res.set(http::field::content_range, "bytes " + std::to_string(range.range.first) + "-" +
                                              std::to_string(range.range.last) + "/" + std::to_string(size));
    res.content_length(body.length);
  };
  if (req.method() == http::verb::head) {
    http::response<http::empty_body> res{status, req.version()};
    set_content_headers(res);
    return res;
  }
  http::response<file_slice_body> res{status, req.version()};
  set_content_headers(res);
  res.body() = std::move(body);
  return res;
}

// The gateway's own counters, in Prometheus text format.
std::string metrics_text(const gateway_metrics& m) {
  std::string out;
  auto add = [&out](const char* name, const char* type, const char* help, std::uint64_t v) {
    out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " " + type + "\n" + name + " " +
           std::to_string(v) + "\n";
  };
  add("tessera_gateway_http_requests_total", "counter", "HTTP requests received (not upgrades).", m.http_requests);
  add("tessera_gateway_http_errors_total", "counter", "HTTP requests answered with an error by the gateway.",
      m.http_errors);
  add("tessera_gateway_ws_opened_total", "counter", "WebSockets opened (workers and clients).", m.ws_opened);
  add("tessera_gateway_ws_open", "gauge", "WebSockets open now.", m.ws_opened - m.ws_closed);
  add("tessera_gateway_ws_frames_in_total", "counter", "WebSocket frames received.", m.ws_frames_in);
  add("tessera_gateway_ws_frames_out_total", "counter", "WebSocket frames sent.", m.ws_frames_out);
  add("tessera_gateway_ws_bytes_in_total", "counter", "WebSocket payload bytes received.", m.ws_bytes_in);
  add("tessera_gateway_ws_bytes_out_total", "counter", "WebSocket payload bytes sent.", m.ws_bytes_out);
  add("tessera_gateway_ws_too_big_total", "counter", "WebSockets closed for an oversized frame.", m.ws_too_big);
  return out;
}

}  // namespace

// Routes one plain HTTP request (not an upgrade).
http::message_generator handle_request(const gateway_config& config, const gateway_hooks& hooks,
                                       gateway_metrics& metrics, const request_t& req) {
  ++metrics.http_requests;
  if (req.method() != http::verb::get && req.method() != http::verb::head) {
    ++metrics.http_errors;
    return json_error(req, http::status::method_not_allowed, "method not allowed: " + std::string(req.method_string()));
  }
  std::string_view target = req.target();
  const std::string_view path = target.substr(0, target.find('?'));
  const fs::path static_dir = config.static_dir;

  if (path == "/api/status") {
    std::string body = hooks.status_json ? hooks.status_json() : std::string("{}");
    return text_response(req, http::status::ok, std::move(body), "application/json");
  }
  if (path == "/v1/models") {
    // OpenAI-style model list, derived from the status snapshot's model.name.
    nlohmann::json list = {{"object", "list"}, {"data", nlohmann::json::array()}};
    if (hooks.status_json) {
      const auto status = nlohmann::json::parse(hooks.status_json(), nullptr, false);
      if (status.is_object() && status.contains("model") && status["model"].is_object() &&
          status["model"].contains("name") && status["model"]["name"].is_string())
        list["data"].push_back({{"id", status["model"]["name"]}, {"object", "model"}, {"owned_by", "tessera"}});
    }
    return text_response(req, http::status::ok, dump_json(list), "application/json");
  }
  if (path == "/health") {
    // 200 while a plan serves; 503 with the planner's reason otherwise.
    const auto status = nlohmann::json::parse(hooks.status_json ? hooks.status_json() : "{}", nullptr, false);
    const bool ready = status.is_object() && status.value("ready", false);
    std::string reason = "no status";
    if (status.is_object() && status.contains("reason") && status["reason"].is_string())
      reason = status["reason"].get<std::string>();
    nlohmann::json body = ready ? nlohmann::json{{"status", "ok"}}
                                : nlohmann::json{{"status", "unavailable"}, {"reason", reason}};
    if (status.is_object() && status.contains("plan_version"))
      body["plan_version"] = status["plan_version"];
    return text_response(req, ready ? http::status::ok : http::status::service_unavailable, dump_json(body),
                         "application/json");
  }
  if (path == "/metrics")
    return text_response(req, http::status::ok, (hooks.metrics_text ? hooks.metrics_text() : "") + metrics_text(metrics),
                         "text/plain; version=0.0.4; charset=utf-8");
  if (path == "/api/live")
    return text_response(req, http::status::ok, hooks.live_json ? hooks.live_json() : std::string("{}"),
                         "application/json");
  if (path == "/dashboard" || path == "/dashboard/") {
    if (static_dir.empty()) return json_error(req, http::status::not_found, "no static_dir configured");
    return serve_file(req, static_dir / "dashboard" / "index.html", "");
  }

  const auto rel = safe_relative_path(path);
  if (!rel) {
    ++metrics.http_errors;
    return json_error(req, http::status::bad_request, "bad path");
  }
  if (rel->empty()) {
    if (static_dir.empty()) return json_error(req, http::status::not_found, "no static_dir configured");
    return serve_file(req, static_dir / "browser" / "index.html", "");
  }
  constexpr std::string_view ort_prefix = "ort/", shard_prefix = "shards/";
  if (rel->compare(0, ort_prefix.size(), ort_prefix) == 0) {
    if (static_dir.empty()) return json_error(req, http::status::not_found, "no static_dir configured");
    const std::string name = rel->substr(ort_prefix.size());
    if (!is_ort_file(name)) return json_error(req, http::status::not_found, "not found");
    return serve_file(req, static_dir / "node_modules" / "onnxruntime-web" / "dist" / name, "");
  }
  if (rel->compare(0, shard_prefix.size(), shard_prefix) == 0) {
    const std::string rest = rel->substr(shard_prefix.size());
    const auto slash = rest.find('/');
    if (slash == std::string::npos || rest.find('/', slash + 1) != std::string::npos || !hooks.find_shard)
      return json_error(req, http::status::not_found, "not found");
    const auto shard = hooks.find_shard(rest.substr(0, slash), rest.substr(slash + 1));
    if (!shard) return json_error(req, http::status::not_found, "unknown shard");
    return serve_file(req, shard->path, "\"" + shard->sha256 + "\"");
  }
  // Only the worker page's own files (is_page_file), never the rest of static_dir.
  if (static_dir.empty() || !is_page_file(*rel)) return json_error(req, http::status::not_found, "not found");
  return serve_file(req, static_dir / *rel, "");
}

}  // namespace tessera::net::gateway_http
