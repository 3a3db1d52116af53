// The command table of defenderctl (as ninja's kTools[]): each command adds
// its options to its CLI11 subcommand and returns the function that runs it
// once the command line is parsed and the configuration is loaded.
#ifndef PAM_DEFENDER_DEFENDERCTL_COMMAND_H_
#define PAM_DEFENDER_DEFENDERCTL_COMMAND_H_

#include <functional>
#include <memory>
#include <span>

namespace CLI {
class App;
}

namespace defender::ctl {

class Context;

// Exit codes (doc/DESIGN.md §12; also in defenderctl(8) and `--help`).
inline constexpr int kExitOk = 0;       // Done; for `check`: allowed.
inline constexpr int kExitRefused = 1;  // `check`: refused; `doctor`: problems.
inline constexpr int kExitUsage = 2;    // Usage or configuration error.
inline constexpr int kExitStore = 3;    // Store unavailable.

// Runs a parsed command; returns its exit code. Errors are already printed.
using Runner = std::function<int(Context* ctx)>;

struct Command {
  const char* name;
  const char* description;
  // Adds the command's options (and nested subcommands) to `sub`; the
  // returned Runner reads the values they are bound to.
  Runner (*define)(CLI::App* sub);
  // Runs on the last valid configuration (with a warning) when the file is
  // invalid (Context::LoadConfig): the commands an administrator needs
  // during an incident. The others exit 2.
  bool tolerates_invalid_config;
};

// The Runner of a command whose options are an `Options`: makes them, has
// `add_flags` bind them to the flags of `sub`, and calls `run` with them
// once the command line is parsed. The options live as long as the Runner.
template <typename Options>
Runner BindOptions(CLI::App* sub, void (*add_flags)(CLI::App*, Options*),
                   int (*run)(Context*, const Options&)) {
  auto opt = std::make_shared<Options>();
  add_flags(sub, opt.get());
  return [opt, run](Context* ctx) { return run(ctx, *opt); };
}

// Every command, in the order `--help` lists them.
std::span<const Command> Commands();

// One definer per command (each in its own file).
Runner DefineList(CLI::App* sub);
Runner DefineAttempts(CLI::App* sub);
Runner DefineUnblock(CLI::App* sub);
Runner DefineBlock(CLI::App* sub);
Runner DefineCheck(CLI::App* sub);
Runner DefineCleanup(CLI::App* sub);
Runner DefineConfig(CLI::App* sub);
Runner DefineStats(CLI::App* sub);
Runner DefineDoctor(CLI::App* sub);
Runner DefineFirewall(CLI::App* sub);

}  // namespace defender::ctl

#endif  // PAM_DEFENDER_DEFENDERCTL_COMMAND_H_
