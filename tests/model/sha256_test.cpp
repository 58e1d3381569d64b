#include <catch2/catch.hpp>

#include "model/base/sha256.hpp"

TEST_CASE("sha256 matches the FIPS 180-2 test vectors, in one piece or streamed") {
  using tessera::model::sha256;
  CHECK(tessera::model::sha256_hex("abc") ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  CHECK(tessera::model::sha256_hex("") ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  sha256 h;
  h.update("a");
  h.update("bc");
  CHECK(h.hex_digest() == tessera::model::sha256_hex("abc"));
}
