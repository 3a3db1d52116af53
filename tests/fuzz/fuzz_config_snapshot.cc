// The compiled-configuration decoder (common/config_snapshot.h): whatever
// bytes a snapshot file holds, decoding ends in a Config or an error, never
// a crash; what is accepted encodes back to bytes that decode to the same
// configuration.
#include <cstdint>
#include <string>
#include <string_view>

#include "common/config_snapshot.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  defender::ConfigSnapshot snapshot;
  std::string err;
  if (!defender::DecodeConfigSnapshot(input, &snapshot, &err)) {
    fuzz::Check(err.rfind("bad configuration snapshot: ", 0) == 0,
                "a rejected snapshot says why");
    return 0;
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
  return 0;
}
