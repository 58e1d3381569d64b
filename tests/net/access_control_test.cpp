// API keys and join tokens: hashing, the credentials file, lookup, the access
// policy of each route, and per-key limits (concurrent requests, tokens per minute).
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <thread>

#include <unistd.h>

#include "net/access_control.hpp"
#include "net/credentials.hpp"

using namespace tessera::net;
namespace fs = std::filesystem;

namespace {

struct temp_dir {
  fs::path path;
  temp_dir() {
    path = fs::temp_directory_path() / ("tessera-auth-" + std::to_string(::getpid()) + "-" +
                                        std::to_string(std::chrono::steady_clock::now().time_since_epoch().count()));
    fs::create_directories(path);
  }
  ~temp_dir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
};

std::string slurp(const fs::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

presented_credentials bearer(const std::string& secret) { return read_credentials("Bearer " + secret, "/", ""); }

}  // namespace

TEST_CASE("a credential's hash is salted SHA-256 and the file never holds the secret", "[auth]") {
  // SHA-256("abc") with an empty salt is the FIPS 180-2 test vector.
  CHECK(hash_secret("", "abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  temp_dir dir;
  const auto file = (dir.path / "keys").string();
  const auto a = add_credential(file, credential_kind::api_key, "alice", {2, 1000});
  const auto b = add_credential(file, credential_kind::api_key, "bob", {});
  CHECK(a.secret.rfind("tsk_", 0) == 0);
  CHECK(a.secret != b.secret);
  CHECK(a.entry.salt_hex != b.entry.salt_hex);
  const std::string text = slurp(file);
  CHECK(text.find(a.secret) == std::string::npos);
  CHECK(text.find(a.secret.substr(13)) == std::string::npos);  // not even the random part
  CHECK(text.find(a.entry.hash_hex) != std::string::npos);
  CHECK((fs::status(file).permissions() & fs::perms::others_read) == fs::perms::none);

  const auto entries = load_credentials(file);
  REQUIRE(entries.size() == 2);
  CHECK(entries[0].name == "alice");
  CHECK(entries[0].limits.concurrent == 2);
  CHECK(entries[0].limits.tokens_per_minute == 1000);
  const auto* found = find_credential(entries, credential_kind::api_key, a.secret);
  REQUIRE(found);
  CHECK(found->name == "alice");
  CHECK(find_credential(entries, credential_kind::api_key, b.secret)->name == "bob");
}

TEST_CASE("a wrong, altered or wrong-kind secret finds no credential", "[auth]") {
  temp_dir dir;
  const auto file = (dir.path / "keys").string();
  const auto a = add_credential(file, credential_kind::api_key, "alice", {});
  const auto entries = load_credentials(file);
  std::string altered = a.secret;
  altered.back() = altered.back() == '0' ? '1' : '0';
  CHECK(find_credential(entries, credential_kind::api_key, altered) == nullptr);
  CHECK(find_credential(entries, credential_kind::api_key, "") == nullptr);
  CHECK(find_credential(entries, credential_kind::api_key, "tsk_nothex!!_x") == nullptr);
  std::string as_token = a.secret;
  as_token.replace(0, 4, "tsj_");
  CHECK(find_credential(entries, credential_kind::join_token, as_token) == nullptr);
}

TEST_CASE("adding a name twice is refused and revoking removes only that entry", "[auth]") {
  temp_dir dir;
  const auto file = (dir.path / "tokens").string();
  add_credential(file, credential_kind::join_token, "lab-1", {});
  const auto keep = add_credential(file, credential_kind::join_token, "lab-2", {});
  CHECK_THROWS_WITH(add_credential(file, credential_kind::join_token, "lab-1", {}),
                    Catch::Contains("'lab-1' exists already"));
  CHECK_THROWS_WITH(add_credential(file, credential_kind::join_token, "two words", {}),
                    Catch::Contains("name 'two words'"));
  CHECK(revoke_credential(file, credential_kind::join_token, "lab-1"));
  CHECK_FALSE(revoke_credential(file, credential_kind::join_token, "lab-1"));
  const auto entries = load_credentials(file);
  REQUIRE(entries.size() == 1);
  CHECK(find_credential(entries, credential_kind::join_token, keep.secret) != nullptr);
}

TEST_CASE("a malformed credentials file is refused naming the file and line", "[auth]") {
  CHECK_THROWS_WITH(parse_credentials("# header\nabc alice\n", "keys.txt"), Catch::Contains("keys.txt:2"));
  CHECK_THROWS_WITH(parse_credentials("zzzzzzzz alice 00 11 0 0 0\n", "keys.txt"),
                    Catch::Contains("malformed id, salt or hash"));
  CHECK(parse_credentials("", "empty").empty());
}

TEST_CASE("credentials are read from Bearer, ?key=, ?token= and the tessera.key subprotocol", "[auth]") {
  auto p = read_credentials("Bearer  tsk_a ", "/ws/generate?x=1&key=tsk%5Fb&token=tsj_c", "tessera, tessera.key.tsk_d");
  CHECK(p.bearer == "tsk_a");
  CHECK(p.query_key == "tsk_b");
  CHECK(p.query_token == "tsj_c");
  CHECK(p.subprotocol_key == "tsk_d");
  CHECK(p.offered_tessera_protocol);
  CHECK(p.first_subprotocol == "tessera");
  auto none = read_credentials("Basic abc", "/", "");
  CHECK(none.bearer.empty());
  CHECK(none.first_subprotocol.empty());
}

TEST_CASE("routes: clients need a key, workers a token, status/metrics/shards either unless on loopback", "[auth]") {
  CHECK(route_of("/ws/generate", true) == access_route::client);
  CHECK(route_of("/ws/worker", true) == access_route::worker);
  CHECK(route_of("/v1/chat/completions", false) == access_route::client);
  CHECK(route_of("/v1/models", false) == access_route::client);
  CHECK(route_of("/api/status", false) == access_route::private_get);
  CHECK(route_of("/metrics", false) == access_route::private_get);
  CHECK(route_of("/shards/abc/stage.onnx", false) == access_route::private_get);
  CHECK(route_of("/", false) == access_route::open);
  CHECK(route_of("/health", false) == access_route::open);

  temp_dir dir;
  access_settings s;
  s.keys_file = (dir.path / "keys").string();
  s.tokens_file = (dir.path / "tokens").string();
  const auto key = add_credential(s.keys_file, credential_kind::api_key, "alice", {});
  const auto token = add_credential(s.tokens_file, credential_kind::join_token, "lab", {});

  s.loopback_only = false;
  access_control ac(s);
  auto refused = ac.check(access_route::client, {});
  CHECK_FALSE(refused.allowed);
  CHECK(refused.status == 401);
  CHECK(refused.code == "invalid_api_key");
  CHECK_THAT(refused.message, Catch::Contains("missing API key"));
  CHECK_THAT(ac.check(access_route::client, bearer("tsk_00000000_" + std::string(40, 'a'))).message,
             Catch::Contains("invalid API key"));
  CHECK_THAT(ac.check(access_route::client, bearer(token.secret)).message, Catch::Contains("join token is not an API key"));
  auto ok = ac.check(access_route::client, read_credentials("", "/ws/generate?key=" + key.secret, ""));
  CHECK(ok.allowed);
  CHECK(ok.principal == "key:alice");
  CHECK(ok.meter);
  CHECK(ac.check(access_route::client, read_credentials("", "/", "tessera.key." + key.secret)).allowed);

  auto worker_refused = ac.check(access_route::worker, {});
  CHECK(worker_refused.code == "invalid_join_token");
  CHECK_THAT(worker_refused.message, Catch::Contains("missing join token"));
  CHECK_FALSE(ac.check(access_route::worker, bearer(key.secret)).allowed);
  CHECK(ac.check(access_route::worker, read_credentials("", "/ws/worker?token=" + token.secret, "")).allowed);

  CHECK_FALSE(ac.check(access_route::private_get, {}).allowed);
  CHECK(ac.check(access_route::private_get, bearer(key.secret)).allowed);
  CHECK(ac.check(access_route::private_get, read_credentials("", "/shards/x/y?token=" + token.secret, "")).allowed);

  s.loopback_only = true;
  access_control local(s);
  CHECK(local.check(access_route::private_get, {}).allowed);
  CHECK_FALSE(local.check(access_route::client, {}).allowed);  // a keys file still guards clients
}

TEST_CASE("without files everything is open; an ephemeral token admits workers", "[auth]") {
  access_control open_ac(access_settings{});
  CHECK(open_ac.check(access_route::client, {}).allowed);
  CHECK(open_ac.check(access_route::worker, {}).allowed);
  temp_dir dir;
  access_settings s;
  s.tokens_file = (dir.path / "missing-yet").string();
  access_control ac(s);
  CHECK_FALSE(ac.check(access_route::worker, {}).allowed);
  const auto secret = ac.add_ephemeral_token("local-workers");
  const auto d = ac.check(access_route::worker, bearer(secret));
  CHECK(d.allowed);
  CHECK(ac.still_valid(credential_kind::join_token, d.credential_id));
}

TEST_CASE("a revoked token stops being valid once the file is re-read", "[auth]") {
  temp_dir dir;
  access_settings s;
  s.tokens_file = (dir.path / "tokens").string();
  const auto t = add_credential(s.tokens_file, credential_kind::join_token, "lab", {});
  access_control ac(s);
  const auto d = ac.check(access_route::worker, bearer(t.secret));
  REQUIRE(d.allowed);
  CHECK_FALSE(ac.reload_if_changed());
  REQUIRE(revoke_credential(s.tokens_file, credential_kind::join_token, "lab"));
  // The rename gives the file a new modification time (or removes an entry the
  // reload sees); wait for the file system clock to tell them apart when coarse.
  fs::last_write_time(s.tokens_file, fs::last_write_time(s.tokens_file) + std::chrono::seconds(1));
  CHECK(ac.reload_if_changed());
  CHECK_FALSE(ac.still_valid(credential_kind::join_token, d.credential_id));
  CHECK_FALSE(ac.check(access_route::worker, bearer(t.secret)).allowed);
}

TEST_CASE("a key's concurrent-request limit refuses the request past it and frees on end", "[auth]") {
  usage_meter m("alice", {2, 0});
  CHECK_FALSE(m.begin());
  CHECK_FALSE(m.begin());
  const auto refused = m.begin();
  REQUIRE(refused);
  CHECK_THAT(*refused, Catch::Contains("'alice'") && Catch::Contains("2 concurrent"));
  CHECK(m.check());
  m.end(5);
  CHECK_FALSE(m.check());
  CHECK(m.running() == 1);
  usage_meter_ptr shared = std::make_shared<usage_meter>("bob", credential_limits{1, 0});
  REQUIRE_FALSE(shared->begin());
  { usage_slot slot(shared); }  // destroyed unfinished: the request died, its place is freed
  CHECK(shared->running() == 0);
}

TEST_CASE("a key's tokens-per-minute limit counts the last 60 seconds only", "[auth]") {
  using clock = usage_meter::clock;
  usage_meter m("alice", {0, 100});
  const auto t0 = clock::now();
  REQUIRE_FALSE(m.begin(t0));
  m.end(60, t0);
  REQUIRE_FALSE(m.begin(t0 + std::chrono::seconds(10)));
  m.end(40, t0 + std::chrono::seconds(10));
  const auto refused = m.begin(t0 + std::chrono::seconds(20));
  REQUIRE(refused);
  CHECK_THAT(*refused, Catch::Contains("used 100 tokens") && Catch::Contains("100 tokens per minute") &&
                           Catch::Contains("retry in 41 s"));
  // 60 s after the first request its 60 tokens leave the window.
  CHECK(m.tokens_last_minute(t0 + std::chrono::seconds(61)) == 40);
  CHECK_FALSE(m.begin(t0 + std::chrono::seconds(61)));
}
