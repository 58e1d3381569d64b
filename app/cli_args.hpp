// Command-line arguments of one tessera sub-command: `--flag value`, `--switch`
// and positionals. Unknown flags and missing values are errors that name them.
#pragma once

#include <map>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

namespace tessera::app {

struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class cli_args {
public:
  // `valued` flags take a value (`--out DIR` or `--out=DIR`); `switches` take none.
  // Throws usage_error naming the first unknown flag or a flag missing its value.
  cli_args(const std::vector<std::string>& args, const std::set<std::string>& valued,
           const std::set<std::string>& switches = {});

  bool has(const std::string& flag) const;
  std::optional<std::string> get(const std::string& flag) const;
  std::string get_or(const std::string& flag, const std::string& fallback) const;
  // Throws usage_error("missing --flag") when absent.
  std::string require(const std::string& flag) const;
  // Parses an integer; throws usage_error naming the flag and the bad value.
  long long get_int(const std::string& flag, long long fallback) const;
  double get_double(const std::string& flag, double fallback) const;
  const std::vector<std::string>& positionals() const { return positionals_; }

private:
  std::map<std::string, std::string> values_;
  std::set<std::string> switches_seen_;
  std::vector<std::string> positionals_;
};

}  // namespace tessera::app
