// What every command works with: the global options, the configuration
// (loaded exactly as the module loads it), the clock, and the store opened
// on demand. Errors are printed here, once, as "defenderctl: ..." on stderr.
#ifndef PAM_DEFENDER_DEFENDERCTL_CONTEXT_H_
#define PAM_DEFENDER_DEFENDERCTL_CONTEXT_H_

#include <cstdint>
#include <memory>
#include <string>

#include "common/backend.h"
#include "common/clock.h"
#include "common/config.h"

namespace defender::ctl {

struct GlobalOptions {
  std::string config_path;  // Empty: Config::kDefaultConfigPath.
  bool json = false;
};

class Context {
 public:
  Context(GlobalOptions globals, const Clock& clock)
      : globals_(std::move(globals)), clock_(clock) {}

  // Built-in defaults, then the file: -c PATH (which must exist) or the
  // default path (a missing default file means built-in defaults). On error
  // prints "defenderctl: FILE:LINE: KEY: reason" and returns false.
  bool LoadConfig();

  // Opens the configured store and the local attempt log (once). On failure
  // prints why (a permission problem says "run as root") and returns
  // nullptr: the command then exits with kExitStore.
  Backend* OpenBackend();

  const Config& config() const { return config_; }
  bool json() const { return globals_.json; }
  // -c PATH as given, or "" for the default.
  const std::string& config_path() const { return globals_.config_path; }
  int64_t Now() const { return clock_.Now(); }
  const Clock& clock() const { return clock_; }

 private:
  GlobalOptions globals_;
  const Clock& clock_;
  Config config_;
  std::unique_ptr<Backend> backend_;
};

// Prints "defenderctl: MESSAGE" on stderr, MESSAGE through EscapeForDisplay
// (normalize.h): it may quote a store's reply.
void PrintError(const std::string& message);
// Prints "defenderctl: warning: MESSAGE" on stderr, escaped the same way.
void PrintWarning(const std::string& message);
// Writes `text` to stdout.
void PrintOut(const std::string& text);

}  // namespace defender::ctl

#endif  // PAM_DEFENDER_DEFENDERCTL_CONTEXT_H_
