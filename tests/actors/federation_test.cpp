// The federation's pure parts: the [federation] config (every bad value
// named), the shared-secret challenge, and the membership rules (leader =
// lowest id alive, epochs that only grow and move on every leader change).
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include <unistd.h>

#include <catch2/catch.hpp>

#include "actors/federation_auth.hpp"
#include "actors/federation_membership.hpp"
#include "actors/node_config.hpp"

using namespace tessera::actors;
using namespace std::chrono_literals;

namespace {

const std::string good_section =
    "[federation]\nid = \"b\"\nlisten = \"127.0.0.1:7101\"\n"
    "peers = [\"127.0.0.1:7100\", \"10.0.0.3:7102\"]\nsecret = \"0123456789abcdef-shared\"\n";

std::string error_of(const std::string& text) {
  try {
    parse_node_config(text, "fed.toml");
  } catch (const config_error& e) {
    return e.what();
  }
  return "";
}

// good_section with the line starting `key =` replaced by `line` (or dropped when empty).
std::string with(const std::string& key, const std::string& line) {
  std::string out;
  std::istringstream in(good_section);
  for (std::string l; std::getline(in, l);)
    if (l.rfind(key + " =", 0) == 0) {
      if (!line.empty())
        out += line + "\n";
    } else {
      out += l + "\n";
    }
  return out;
}

}  // namespace

TEST_CASE("without a federation table the node stands alone") {
  auto cfg = default_node_config();
  CHECK_FALSE(cfg.federation.enabled);
}

TEST_CASE("a federation table gives id, listen address, peers, secret and defaults") {
  auto cfg = parse_node_config(good_section, "fed.toml");
  auto& f = cfg.federation;
  CHECK(f.enabled);
  CHECK(f.id == "b");
  CHECK(f.listen.text() == "127.0.0.1:7101");
  REQUIRE(f.peers.size() == 2);
  CHECK(f.peers[0].text() == "127.0.0.1:7100");
  CHECK(f.peers[1].host == "10.0.0.3");
  CHECK(f.peers[1].port == 7102);
  CHECK(f.secret == "0123456789abcdef-shared");
  CHECK(f.heartbeat_timeout_ms > f.heartbeat_ms);
  CHECK(f.state_dir == "build/federation/b");
  auto tuned = parse_node_config(good_section + "heartbeat_ms = 100\nheartbeat_timeout_ms = 400\nstate_dir = \"/tmp/s\"\n",
                                 "fed.toml");
  CHECK(tuned.federation.heartbeat_ms == 100);
  CHECK(tuned.federation.heartbeat_timeout_ms == 400);
  CHECK(tuned.federation.state_dir == "/tmp/s");
}

TEST_CASE("bad federation values are rejected naming the key and the value") {
  CHECK(error_of(with("id", "")) == "fed.toml: federation.id: missing (this node's unique name among its peers)");
  CHECK(error_of(with("id", "id = \"a b\"")) ==
        "fed.toml: federation.id: value \"a b\" is not 1-64 letters, digits, '.', '_' or '-'");
  CHECK(error_of(with("listen", "")).find("federation.listen: missing") != std::string::npos);
  CHECK(error_of(with("listen", "listen = \"7101\"")) ==
        "fed.toml: federation.listen: value \"7101\" is not HOST:PORT");
  CHECK(error_of(with("listen", "listen = \"127.0.0.1:0\"")) ==
        "fed.toml: federation.listen: port \"0\" of \"127.0.0.1:0\" is not a number in [1, 65535]");
  CHECK(error_of(with("listen", "listen = \"h:70000\"")) ==
        "fed.toml: federation.listen: port \"70000\" of \"h:70000\" is not a number in [1, 65535]");
  CHECK(error_of(with("peers", "peers = [\"127.0.0.1:7100\", \"nohost\"]")) ==
        "fed.toml: federation.peers[1]: value \"nohost\" is not HOST:PORT");
  CHECK(error_of(with("peers", "peers = \"127.0.0.1:7100\"")) ==
        "fed.toml: federation.peers: expected an array of \"HOST:PORT\" strings");
  CHECK(error_of(with("peers", "peers = [\"127.0.0.1:7101\"]")) ==
        "fed.toml: federation.peers[0]: value \"127.0.0.1:7101\" is this node's own listen address");
  CHECK(error_of(with("peers", "peers = [\"h:1\", \"h:1\"]")) ==
        "fed.toml: federation.peers[1]: value \"h:1\" is listed twice");
  CHECK(error_of(with("secret", "")).find("federation.secret: missing") != std::string::npos);
  auto short_secret = error_of(with("secret", "secret = \"tooshort\""));
  CHECK(short_secret == "fed.toml: federation.secret: too short (8 characters; at least 16)");
  CHECK(short_secret.find("tooshort\"") == std::string::npos);  // the secret is never echoed
  CHECK(error_of(good_section + "heartbeat_ms = 5\n") ==
        "fed.toml: federation.heartbeat_ms: value 5 out of range [10, 600000]");
  CHECK(error_of(good_section + "heartbeat_ms = 500\nheartbeat_timeout_ms = 500\n") ==
        "fed.toml: federation.heartbeat_timeout_ms: value 500 must exceed federation.heartbeat_ms (500)");
  CHECK(error_of(good_section + "leader = \"a\"\n") == "fed.toml: federation.leader: unknown key");
  CHECK(error_of("federation = 3\n") == "fed.toml: federation: expected a table");
  CHECK(error_of(good_section + "pool = 1\n") == "fed.toml: federation.pool: expected true or false");
}

TEST_CASE("the one pool is off unless federation.pool = true") {
  CHECK_FALSE(parse_node_config(good_section, "fed.toml").federation.pool);
  CHECK(parse_node_config(good_section + "pool = true\n", "fed.toml").federation.pool);
  CHECK_FALSE(parse_node_config(good_section + "pool = false\n", "fed.toml").federation.pool);
}

TEST_CASE("a proof of the secret checks only for the same secret, role, id and nonce") {
  const std::string secret = "0123456789abcdef-shared";
  auto nonce = make_federation_nonce();
  CHECK(nonce.size() == 64);
  CHECK(nonce != make_federation_nonce());
  auto proof = federation_proof(secret, federation_role::dialer, "a", nonce);
  CHECK(proof.size() == 64);
  CHECK(check_federation_proof(secret, federation_role::dialer, "a", nonce, proof));
  CHECK_FALSE(check_federation_proof("0123456789abcdef-wrong!", federation_role::dialer, "a", nonce, proof));
  CHECK_FALSE(check_federation_proof(secret, federation_role::listener, "a", nonce, proof));  // reflected
  CHECK_FALSE(check_federation_proof(secret, federation_role::dialer, "b", nonce, proof));    // moved to another id
  CHECK_FALSE(check_federation_proof(secret, federation_role::dialer, "a", make_federation_nonce(), proof));  // replayed
  CHECK_FALSE(check_federation_proof(secret, federation_role::dialer, "a", nonce, proof.substr(0, 63)));
  CHECK_FALSE(check_federation_proof(secret, federation_role::dialer, "a", nonce, ""));
  // Field boundaries count: id "a|1" + nonce differs from id "a" + nonce "1|...".
  CHECK(federation_proof(secret, federation_role::dialer, "ab", "c") !=
        federation_proof(secret, federation_role::dialer, "a", "bc"));
}

TEST_CASE("without a majority of the configured nodes alive there is no leader") {
  federation_membership solo("s", "h:9", {}, 7);  // no peers configured: a majority of one
  CHECK(solo.leader() == "s");
  CHECK(solo.epoch() == 8);
  federation_membership b("b", "h:2", {"h:1", "h:3"}, 7);
  CHECK(b.quorum() == 2);
  CHECK(b.leader().empty());
  CHECK(b.epoch() == 7);
  auto v = b.view();
  REQUIRE(v.nodes.size() == 3);
  CHECK(v.nodes[0].self);
  CHECK_FALSE(v.nodes[0].leader);
  CHECK(v.nodes[1].id.empty());  // configured, never reached
  CHECK(v.nodes[1].address == "h:1");
  CHECK_FALSE(v.nodes[1].alive);
  auto t0 = federation_membership::clock::now();
  b.joined("c", "h:3", t0);
  CHECK(b.leader() == "b");
  CHECK(b.epoch() == 8);
  b.lost("c");
  CHECK(b.leader().empty());
  CHECK(b.epoch() == 8);
  CHECK(federation_membership("x", "h", {"1", "2", "3"}, 0).quorum() == 3);
  CHECK(federation_membership("x", "h", {"1", "2", "3", "4"}, 0).quorum() == 3);
}

TEST_CASE("the lowest id alive leads and its loss raises the epoch at the next leader") {
  auto t0 = federation_membership::clock::now();
  federation_membership b("b", "h:2", {"h:1", "h:3"}, 0);
  federation_membership c("c", "h:3", {"h:1", "h:2"}, 0);
  // a leads at epoch 5; b and c follow it.
  b.joined("a", "h:1", t0);
  c.joined("a", "h:1", t0);
  b.joined("c", "h:3", t0);
  c.joined("b", "h:2", t0);
  b.heard("a", 5, "a", "a", t0);
  c.heard("a", 5, "a", "a", t0);
  CHECK(b.leader() == "a");
  CHECK(c.leader() == "a");
  CHECK(b.epoch() == 5);
  CHECK(c.epoch() == 5);
  CHECK(b.issuer() == "a");
  CHECK_FALSE(b.leading());
  // a's link drops: b leads at 6; c hears b and follows at 6.
  b.lost("a");
  c.lost("a");
  CHECK(b.leader() == "b");
  CHECK(b.epoch() == 6);
  CHECK(c.leader() == "b");
  c.heard("b", b.epoch(), b.issuer(), b.leader(), t0);
  CHECK(c.epoch() == 6);
  // A follower's late beat naming the old leader at an older epoch moves nothing.
  b.heard("c", 5, "a", "a", t0);
  CHECK(b.epoch() == 6);
  // a comes back (stored 5): alone it has no majority; linked to b it leads
  // and issues 6, the number b issued too; hearing b, it moves above it, so
  // no two leaders keep one epoch.
  federation_membership a("a", "h:1", {"h:2", "h:3"}, 5);
  CHECK(a.leader().empty());
  CHECK(a.epoch() == 5);
  a.joined("b", "h:2", t0);
  CHECK(a.leader() == "a");
  CHECK(a.epoch() == 6);
  a.heard("b", 6, "b", "b", t0);  // the same number, issued by another leader
  CHECK(a.leader() == "a");
  CHECK(a.epoch() == 7);
  CHECK(a.issuer() == "a");
  b.joined("a", "h:1", t0);
  b.heard("a", a.epoch(), a.issuer(), a.leader(), t0);
  CHECK(b.leader() == "a");
  CHECK(b.epoch() == 7);
  auto v = b.view();
  REQUIRE(v.nodes.size() == 3);
  CHECK(v.nodes[1].id == "a");
  CHECK(v.nodes[1].leader);
  CHECK(v.nodes[1].alive);
}

TEST_CASE("a peer silent past the timeout is dead and beats of a dead or unknown peer count for nothing") {
  auto t0 = federation_membership::clock::now();
  federation_membership b("b", "h:2", {}, 0);
  b.joined("a", "h:1", t0);
  b.joined("c", "h:3", t0);
  b.heard("a", 3, "a", "a", t0 + 900ms);
  CHECK(b.expire(t0 + 1500ms, 1000ms) == std::vector<std::string>{"c"});
  CHECK(b.alive("a"));
  CHECK_FALSE(b.alive("c"));
  auto gone = b.expire(t0 + 2000ms, 1000ms);
  CHECK(gone == std::vector<std::string>{"a"});
  CHECK(b.leader() == "b");
  auto e = b.epoch();
  b.heard("a", 99, "a", "a", t0 + 2100ms);  // dead until it passes the challenge again
  b.heard("z", 99, "z", "z", t0 + 2100ms);  // never joined
  CHECK(b.epoch() == e);
  CHECK(b.leader() == "b");
}

TEST_CASE("epochs only grow, and every leader change ends at a higher epoch agreed by every node") {
  // Random joins, losses and beats among five nodes that all hear each other.
  std::vector<std::string> ids = {"a", "b", "c", "d", "e"};
  std::vector<federation_membership> m;
  auto others = [&](const std::string& self) {
    std::vector<std::string> out;
    for (auto& id : ids)
      if (id != self)
        out.push_back("h:" + id);
    return out;
  };
  for (auto& id : ids)
    m.emplace_back(id, "h:" + id, others(id), 0);
  std::vector<bool> up(ids.size(), true);
  auto t = federation_membership::clock::now();
  std::mt19937 rng(12);
  auto link_all = [&] {
    for (size_t i = 0; i < ids.size(); ++i)
      for (size_t j = 0; j < ids.size(); ++j)
        if (i != j && up[i] && up[j] && !m[i].alive(ids[j]))
          m[i].joined(ids[j], "h:" + ids[j], t);
  };
  auto gossip = [&] {
    for (int round = 0; round < 3; ++round)
      for (size_t i = 0; i < ids.size(); ++i)
        for (size_t j = 0; j < ids.size(); ++j)
          if (i != j && up[i] && up[j])
            m[j].heard(ids[i], m[i].epoch(), m[i].issuer(), m[i].leader(), t);
  };
  link_all();
  gossip();
  std::string last_leader;
  uint64_t last_epoch = 0;
  int leader_changes = 0;
  for (int step = 0; step < 200; ++step) {
    size_t k = rng() % ids.size();
    if (up[k] && std::count(up.begin(), up.end(), true) > 1) {
      up[k] = false;
      for (size_t i = 0; i < ids.size(); ++i)
        m[i].lost(ids[k]);
    } else if (!up[k]) {  // restarts with the epoch it had stored
      up[k] = true;
      m[k] = federation_membership(ids[k], "h:" + ids[k], others(ids[k]), m[k].epoch());
      link_all();
    }
    gossip();
    // Everyone up agrees on one epoch, and on the lowest id up as leader
    // while three of the five are up (no leader otherwise).
    size_t lowest = std::find(up.begin(), up.end(), true) - up.begin();
    bool majority = std::count(up.begin(), up.end(), true) >= 3;
    for (size_t i = 0; i < ids.size(); ++i) {
      if (!up[i])
        continue;
      INFO("step " << step << " node " << ids[i]);
      CHECK(m[i].leader() == (majority ? ids[lowest] : std::string()));
      CHECK(m[i].epoch() == m[lowest].epoch());
    }
    CHECK(m[lowest].epoch() >= last_epoch);
    if (majority && ids[lowest] != last_leader) {
      CHECK(m[lowest].epoch() > last_epoch);
      ++leader_changes;
    }
    if (majority)
      last_leader = ids[lowest];
    last_epoch = m[lowest].epoch();
  }
  CHECK(leader_changes > 20);  // the walk did change leaders, often
}

TEST_CASE("the epoch is stored atomically and read back and a corrupt file is named") {
  auto dir = std::filesystem::temp_directory_path() / ("tessera-fed-epoch-" + std::to_string(::getpid()));
  std::filesystem::remove_all(dir);
  CHECK(load_federation_epoch(dir.string()) == 0);
  store_federation_epoch(dir.string(), 41);
  CHECK(load_federation_epoch(dir.string()) == 41);
  store_federation_epoch(dir.string(), 42);
  CHECK(load_federation_epoch(dir.string()) == 42);
  CHECK_FALSE(std::filesystem::exists(dir / "epoch.tmp"));
  std::ofstream(dir / "epoch") << "forty\n";
  CHECK_THROWS_WITH(load_federation_epoch(dir.string()),
                    (dir / "epoch").string() + ": value \"forty\" is not an election epoch (a number)");
  std::filesystem::remove_all(dir);
}
