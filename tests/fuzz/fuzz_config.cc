// The config parser: the first line of the input is a module argument
// (KEY=VALUE), the rest a defender.toml. Whatever is accepted must dump
// to TOML that parses back to the same configuration.
#include <cstdint>
#include <string>
#include <string_view>

#include "common/config.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const size_t nl = input.find('\n');
  const std::string_view arg = input.substr(0, nl);
  const std::string_view text =
      nl == std::string_view::npos ? std::string_view() : input.substr(nl + 1);

  defender::Config cfg;
  std::string err;
  if (!defender::ParseConfigText(text, "fuzz.toml", &cfg, &err)) {
    fuzz::Check(!err.empty(), "a rejected config has a message");
    fuzz::Check(err.rfind("fuzz.toml:", 0) == 0, "the message names the file");
    return 0;
  }
  const defender::Config before = cfg;
  if (!defender::ApplyOverride(arg, &cfg, &err)) {
    fuzz::Check(DumpConfig(cfg) == DumpConfig(before),
                "a rejected argument changes nothing");
  }
  const std::string dump = defender::DumpConfig(cfg);
  defender::Config again;
  std::string err2;
  fuzz::Check(defender::ParseConfigText(dump, "dump.toml", &again, &err2),
              "the dump of an accepted config parses");
  again.source = cfg.source;
  fuzz::Check(defender::DumpConfig(again) == dump,
              "the dump parses back to the same config");
  return 0;
}
