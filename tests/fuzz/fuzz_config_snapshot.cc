// The compiled-configuration decoder (common/config_snapshot.h): whatever
// bytes a snapshot file holds, decoding ends in a Config or an error, never
// a crash; what is accepted encodes back to bytes that decode to the same
// configuration. Each input is decoded as it is, and framed as the body of
// a snapshot (header, length and checksum made right: the fuzzer would not
// find a matching checksum), so that the key and value decoding is reached.
#include <cstdint>
#include <string>
#include <string_view>

#include "common/config_snapshot.h"
#include "fuzz_check.h"

namespace {

void PutLe(uint64_t v, int n, std::string* out) {
  for (int i = 0; i < n; ++i) out->push_back(static_cast<char>(v >> (8 * i)));
}

// "PDCONFIG", version 1, the length, `body`, then the FNV-1a checksum. An
// input that is itself a snapshot gives its own body.
std::string Frame(std::string_view input) {
  std::string_view body = input;
  if (input.size() >= 24 && input.substr(0, 8) == "PDCONFIG") {
    body = input.substr(16, input.size() - 24);
  }
  std::string out = "PDCONFIG";
  PutLe(defender::kConfigSnapshotVersion, 4, &out);
  PutLe(16 + body.size() + 8, 4, &out);
  out.append(body);
  uint64_t h = 0xcbf29ce484222325ULL;
  for (char c : out) {
    h ^= static_cast<unsigned char>(c);
    h *= 0x100000001b3ULL;
  }
  PutLe(h, 8, &out);
  return out;
}

void DecodeOne(std::string_view input) {
  defender::ConfigSnapshot snapshot;
  std::string err;
  if (!defender::DecodeConfigSnapshot(input, &snapshot, &err)) {
    fuzz::Check(err.rfind("bad configuration snapshot: ", 0) == 0,
                "a rejected snapshot says why");
    return;
  }
  const std::string again = defender::EncodeConfigSnapshot(snapshot);
  defender::ConfigSnapshot decoded;
  fuzz::Check(defender::DecodeConfigSnapshot(again, &decoded, &err),
              "an accepted snapshot encodes to one that decodes");
  fuzz::Check(decoded.conf_path == snapshot.conf_path &&
                  decoded.identity == snapshot.identity &&
                  decoded.config.source == snapshot.config.source &&
                  defender::DumpConfig(decoded.config) ==
                      defender::DumpConfig(snapshot.config),
              "and to the same configuration");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  DecodeOne(input);
  DecodeOne(Frame(input));
  return 0;
}
