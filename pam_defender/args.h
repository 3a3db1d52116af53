// The module's arguments (doc/DESIGN.md §6), parsed without side effects.
#ifndef PAM_DEFENDER_PAM_DEFENDER_ARGS_H_
#define PAM_DEFENDER_PAM_DEFENDER_ARGS_H_

#include <string>
#include <vector>

namespace defender {

enum class Mode { kPreauth, kAuthFail, kAuthSucc, kAccount };

struct ModuleArgs {
  Mode mode = Mode::kPreauth;  // kAccount for the account entry point.
  std::string conf;            // Empty: the default path.
  bool silent = false;
  bool debug = false;
  bool fail_closed = false;
  bool enforce = false;
  std::vector<std::string> overrides;  // KEY=VALUE, in order.
};

// Parses argv for the given entry point (`account` true for
// pam_sm_acct_mgmt). Bare words other than the known flags are errors
// (*err names the first bad argument); KEY=VALUE words other than conf= are
// collected in `overrides` and checked by ApplyOverride. Even on error every
// argument is read, so `mode` and `fail_closed` are always complete.
bool ParseModuleArgs(int argc, const char** argv, bool account, ModuleArgs* out,
                     std::string* err);

// True when argv holds the fail_closed flag, as ParseModuleArgs would set
// it; allocates nothing, so that the failure policy of an exception thrown
// while the arguments are parsed (memory running out) can follow it.
bool HasFailClosedArg(int argc, const char** argv) noexcept;

}  // namespace defender

#endif  // PAM_DEFENDER_PAM_DEFENDER_ARGS_H_
