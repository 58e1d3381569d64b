#include "app/cli_args.hpp"

namespace tessera::app {

cli_args::cli_args(const std::vector<std::string>& args, const std::set<std::string>& valued,
                   const std::set<std::string>& switches) {
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a.size() < 3 || a.compare(0, 2, "--") != 0) {
      positionals_.push_back(a);
      continue;
    }
    std::string name = a;
    std::optional<std::string> inline_value;
    if (auto eq = a.find('='); eq != std::string::npos) {
      name = a.substr(0, eq);
      inline_value = a.substr(eq + 1);
    }
    if (switches.count(name)) {
      if (inline_value)
        throw usage_error(name + " takes no value (got '" + *inline_value + "')");
      switches_seen_.insert(name);
    } else if (valued.count(name)) {
      if (inline_value) {
        values_[name] = *inline_value;
      } else if (i + 1 < args.size()) {
        values_[name] = args[++i];
      } else {
        throw usage_error(name + " needs a value");
      }
    } else {
      throw usage_error("unknown option " + name);
    }
  }
}

bool cli_args::has(const std::string& flag) const {
  return values_.count(flag) || switches_seen_.count(flag);
}

std::optional<std::string> cli_args::get(const std::string& flag) const {
  auto it = values_.find(flag);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

std::string cli_args::get_or(const std::string& flag, const std::string& fallback) const {
  return get(flag).value_or(fallback);
}

std::string cli_args::require(const std::string& flag) const {
  auto v = get(flag);
  if (!v) throw usage_error("missing " + flag);
  return *v;
}

long long cli_args::get_int(const std::string& flag, long long fallback) const {
  auto v = get(flag);
  if (!v) return fallback;
  try {
    size_t used = 0;
    long long n = std::stoll(*v, &used);
    if (used != v->size()) throw std::invalid_argument("trailing");
    return n;
  } catch (const std::exception&) {
    throw usage_error(flag + " expects an integer, got '" + *v + "'");
  }
}

double cli_args::get_double(const std::string& flag, double fallback) const {
  auto v = get(flag);
  if (!v) return fallback;
  try {
    size_t used = 0;
    double d = std::stod(*v, &used);
    if (used != v->size()) throw std::invalid_argument("trailing");
    return d;
  } catch (const std::exception&) {
    throw usage_error(flag + " expects a number, got '" + *v + "'");
  }
}

}  // namespace tessera::app
