// tessera certs --out DIR [--host NAME_OR_IP ...]
// Makes a local certificate authority and a node certificate signed by it
// (OpenSSL's C API, EC P-256), for https/wss on a LAN:
//   DIR/ca.pem    the CA certificate participants trust (docs/security.md)
//   DIR/ca.key    the CA's private key (0600; keep it off the network)
//   DIR/node.pem  the node certificate + the CA (node.tls_cert)
//   DIR/node.key  the node's private key (0600; node.tls_key)
// The node certificate names localhost, 127.0.0.1, ::1 and every --host. An
// existing DIR/ca.pem + ca.key is reused, so new node certificates need no new trust.
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "app/cli_args.hpp"
#include "app/commands.hpp"

namespace tessera::app {

namespace {

namespace fs = std::filesystem;

const char* kCertsUsage =
    "usage: tessera certs --out DIR [--host NAME_OR_IP ...]\n"
    "  Writes DIR/ca.pem, DIR/ca.key (a local CA; reused when present), DIR/node.pem and DIR/node.key.\n"
    "  --host   a name or IP address the node is reached at (repeat, or separate with commas);\n"
    "           localhost, 127.0.0.1 and ::1 are always included\n"
    "  --days   validity of the node certificate (default 397)\n"
    "Then set [node] tls_cert = \"DIR/node.pem\", tls_key = \"DIR/node.key\" and let participants trust DIR/ca.pem.\n";

struct ossl_deleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, ossl_deleter>;
using x509_ptr = std::unique_ptr<X509, ossl_deleter>;
using bio_ptr = std::unique_ptr<BIO, ossl_deleter>;

[[noreturn]] void fail(const std::string& what) {
  char buf[256] = "";
  if (unsigned long e = ERR_get_error()) ERR_error_string_n(e, buf, sizeof(buf));
  throw std::runtime_error(what + (buf[0] ? std::string(": ") + buf : std::string()));
}

pkey_ptr new_key() {
  pkey_ptr key(EVP_EC_gen("P-256"));
  if (!key) fail("cannot generate an EC P-256 key");
  return key;
}

void add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (!ext) fail("cannot make certificate extension " + std::string(OBJ_nid2sn(nid)) + " = " + value);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// A certificate for `key` named `common_name`, signed by issuer_key (self-signed when issuer is null).
x509_ptr new_cert(EVP_PKEY* key, const std::string& common_name, long days, X509* issuer, EVP_PKEY* issuer_key) {
  x509_ptr cert(X509_new());
  X509_set_version(cert.get(), 2);
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof(serial)) != 1) fail("cannot draw a serial number");
  serial[0] &= 0x7f;  // positive
  BIGNUM* bn = BN_bin2bn(serial, sizeof(serial), nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), days * 24 * 3600);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>("Tessera"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(common_name.c_str()),
                             -1, -1, 0);
  X509_set_issuer_name(cert.get(), issuer ? X509_get_subject_name(issuer) : name);
  return cert;
}

void sign(X509* cert, EVP_PKEY* key) {
  if (X509_sign(cert, key, EVP_sha256()) <= 0) fail("cannot sign the certificate");
}

void write_pem(const fs::path& path, const std::vector<X509*>& certs, EVP_PKEY* key) {
  const std::string p = path.string();
  const std::string tmp = p + ".tmp";
  {
    bio_ptr out(BIO_new_file(tmp.c_str(), "w"));
    if (!out) fail("cannot write " + tmp);
    if (key) ::chmod(tmp.c_str(), 0600);
    for (X509* c : certs)
      if (PEM_write_bio_X509(out.get(), c) != 1) fail("cannot write a certificate to " + tmp);
    if (key && PEM_write_bio_PrivateKey(out.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1)
      fail("cannot write the key to " + tmp);
  }
  fs::rename(tmp, path);
}

bool is_ip(const std::string& host) {
  unsigned char buf[16];
  return inet_pton(AF_INET, host.c_str(), buf) == 1 || inet_pton(AF_INET6, host.c_str(), buf) == 1;
}

// --host values, repeated or comma-separated, taken out of args.
std::vector<std::string> take_hosts(arg_list& args) {
  std::vector<std::string> hosts;
  arg_list rest;
  auto add = [&](const std::string& list) {
    std::size_t at = 0;
    while (at <= list.size()) {
      auto comma = list.find(',', at);
      if (comma == std::string::npos) comma = list.size();
      if (comma > at) hosts.push_back(list.substr(at, comma - at));
      at = comma + 1;
    }
  };
  for (std::size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--host") {
      if (i + 1 >= args.size()) throw usage_error("--host needs a value");
      add(args[++i]);
    } else if (args[i].rfind("--host=", 0) == 0) {
      add(args[i].substr(7));
    } else {
      rest.push_back(args[i]);
    }
  }
  args = rest;
  return hosts;
}

}  // namespace

int run_certs_command(const arg_list& raw_args) {
  arg_list args = raw_args;
  auto extra_hosts = take_hosts(args);
  cli_args cli(args, {"--out", "--days"}, {"--help"});
  if (cli.has("--help")) {
    std::fputs(kCertsUsage, stdout);
    return 0;
  }
  if (!cli.positionals().empty()) throw usage_error("unexpected argument '" + cli.positionals()[0] + "'");
  const fs::path dir = cli.require("--out");
  const long days = cli.get_int("--days", 397);
  if (days < 1 || days > 3650) throw usage_error("--days must be in [1, 3650], got " + std::to_string(days));
  for (const auto& h : extra_hosts)
    for (char c : h)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-' && c != ':' && c != '*')
        throw usage_error("--host '" + h + "' is not a host name or IP address");
  fs::create_directories(dir);

  // The CA: reused when both files exist.
  pkey_ptr ca_key;
  x509_ptr ca_cert;
  bool reused = false;
  if (fs::exists(dir / "ca.pem") && fs::exists(dir / "ca.key")) {
    bio_ptr cert_in(BIO_new_file((dir / "ca.pem").c_str(), "r"));
    bio_ptr key_in(BIO_new_file((dir / "ca.key").c_str(), "r"));
    if (cert_in) ca_cert.reset(PEM_read_bio_X509(cert_in.get(), nullptr, nullptr, nullptr));
    if (key_in) ca_key.reset(PEM_read_bio_PrivateKey(key_in.get(), nullptr, nullptr, nullptr));
    if (!ca_cert || !ca_key) fail("cannot read the existing CA in " + dir.string() + " (ca.pem, ca.key)");
    if (X509_check_private_key(ca_cert.get(), ca_key.get()) != 1)
      fail(dir.string() + "/ca.key does not match " + dir.string() + "/ca.pem");
    reused = true;
  } else {
    char host[256] = "";
    gethostname(host, sizeof(host) - 1);
    ca_key = new_key();
    ca_cert = new_cert(ca_key.get(), std::string("Tessera local CA (") + host + ")", 3650, nullptr, nullptr);
    add_ext(ca_cert.get(), ca_cert.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0");
    add_ext(ca_cert.get(), ca_cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
    add_ext(ca_cert.get(), ca_cert.get(), NID_subject_key_identifier, "hash");
    sign(ca_cert.get(), ca_key.get());
    write_pem(dir / "ca.pem", {ca_cert.get()}, nullptr);
    write_pem(dir / "ca.key", {}, ca_key.get());
  }

  std::vector<std::string> hosts = extra_hosts;
  for (const char* h : {"localhost", "127.0.0.1", "::1"}) hosts.emplace_back(h);
  std::set<std::string> seen;
  std::string san;
  for (const auto& h : hosts) {
    if (!seen.insert(h).second) continue;
    san += (san.empty() ? "" : ",") + std::string(is_ip(h) ? "IP:" : "DNS:") + h;
  }
  pkey_ptr node_key = new_key();
  x509_ptr node_cert = new_cert(node_key.get(), hosts.front(), days, ca_cert.get(), ca_key.get());
  add_ext(node_cert.get(), ca_cert.get(), NID_basic_constraints, "critical,CA:FALSE");
  add_ext(node_cert.get(), ca_cert.get(), NID_key_usage, "critical,digitalSignature,keyEncipherment");
  add_ext(node_cert.get(), ca_cert.get(), NID_ext_key_usage, "serverAuth");
  add_ext(node_cert.get(), ca_cert.get(), NID_subject_alt_name, san);
  add_ext(node_cert.get(), ca_cert.get(), NID_subject_key_identifier, "hash");
  add_ext(node_cert.get(), ca_cert.get(), NID_authority_key_identifier, "keyid:always");
  sign(node_cert.get(), ca_key.get());
  write_pem(dir / "node.pem", {node_cert.get(), ca_cert.get()}, nullptr);
  write_pem(dir / "node.key", {}, node_key.get());

  std::printf("%s %s/ca.pem (trust this one), wrote %s/node.pem and %s/node.key for %s\n",
              reused ? "reused" : "wrote", dir.c_str(), dir.c_str(), dir.c_str(), san.c_str());
  std::printf("node config:\n  [node]\n  tls_cert = \"%s/node.pem\"\n  tls_key = \"%s/node.key\"\n", dir.c_str(),
              dir.c_str());
  return 0;
}

}  // namespace tessera::app
