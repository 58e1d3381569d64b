// The real gateway serving a static dir (webworker/) for page_isolation.test.mjs:
// prints "PORT n", then one "HELLO ..." line per worker Hello it decodes (with
// the C++ protobuf code, so the JS codec is checked too); stops when stdin closes.
#include "net/gateway.hpp"
#include "net/proto/worker.pb.h"
#include <cstdio>
#include <iostream>
#include <string>
using namespace tessera::net;
struct hello_printer : ws_handler {
  ws_connection_ptr c;
  explicit hello_printer(ws_connection_ptr conn) : c(std::move(conn)) {}
  void on_message(std::string p, bool binary) override {
    tessera::wire::FromWorker m;
    if (binary && m.ParseFromString(p) && m.has_hello()) {
      std::printf("HELLO device=%s threads=%u memory=%llu flops=%.3g name=%s\n", m.hello().device_kind().c_str(),
                  m.hello().threads(), (unsigned long long)m.hello().memory_bytes(), m.hello().flops_per_s(),
                  m.hello().name().c_str());
      std::fflush(stdout);
    }
  }
  void on_close(const std::string& r) override { std::printf("CLOSE %s\n", r.c_str()); std::fflush(stdout); }
};
int main(int argc, char** argv) {
  gateway_config cfg;
  if (argc != 2) {
    std::fprintf(stderr, "usage: page_server STATIC_DIR\n");
    return 2;
  }
  cfg.static_dir = argv[1];
  gateway_hooks hooks;
  hooks.on_worker_socket = [](ws_connection_ptr c) { return std::make_shared<hello_printer>(c); };
  gateway g(cfg, hooks);
  std::printf("PORT %u\n", g.start());
  std::fflush(stdout);
  std::string line;
  std::getline(std::cin, line);  // until stdin closes
  g.stop();
}
