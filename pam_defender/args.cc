#include "pam_defender/args.h"

#include <string_view>

#include "common/normalize.h"

namespace defender {

namespace {
constexpr std::string_view kFailClosed = "fail_closed";
}  // namespace

bool HasFailClosedArg(int argc, const char** argv) noexcept {
  for (int i = 0; i < argc; ++i) {
    if (argv[i] != nullptr && argv[i] == kFailClosed) return true;
  }
  return false;
}

bool ParseModuleArgs(int argc, const char** argv, bool account, ModuleArgs* out,
                     std::string* err) {
  *out = ModuleArgs{};
  out->mode = account ? Mode::kAccount : Mode::kPreauth;
  // Every argument is read even after an error, so that the caller's
  // failure policy sees the real mode and fail_closed.
  bool ok = true;
  const auto fail = [&](std::string message) {
    if (ok) *err = std::move(message);
    ok = false;
  };
  for (int i = 0; i < argc; ++i) {
    if (argv[i] == nullptr) continue;
    const std::string_view arg(argv[i]);
    if (arg == "silent") {
      out->silent = true;
    } else if (arg == "debug") {
      out->debug = true;
    } else if (arg == kFailClosed) {
      out->fail_closed = true;
    } else if (arg == "enforce") {
      out->enforce = true;
    } else if (!account && arg == "preauth") {
      out->mode = Mode::kPreauth;
    } else if (!account && arg == "authfail") {
      out->mode = Mode::kAuthFail;
    } else if (!account && arg == "authsucc") {
      out->mode = Mode::kAuthSucc;
    } else if (arg.rfind("conf=", 0) == 0) {
      out->conf = std::string(arg.substr(5));
      if (out->conf.empty() || out->conf[0] != '/') {
        fail("module argument \"" + EscapeText(arg, 120) +
             "\": conf= needs an absolute path");
      }
    } else if (arg.find('=') != std::string_view::npos) {
      out->overrides.emplace_back(arg);
    } else {
      fail("unknown module argument \"" + EscapeText(arg, 120) + "\"");
    }
  }
  return ok;
}

}  // namespace defender
