// defenderctl: the administrator's command line for pam_defender (doc/DESIGN.md
// §12). Parses the command line with CLI11, loads the configuration
// as the module does, and runs one command from the table in commands.cc.
#include <CLI/CLI.hpp>
#include <cstdio>
#include <exception>
#include <string>
#include <utility>
#include <vector>

#include "common/parallel.h"
#include "defender_build_config.h"
#include "defenderctl/cli_clock.h"
#include "defenderctl/command.h"
#include "defenderctl/context.h"
#include "defenderctl/threads.h"

namespace defender::ctl {
namespace {

constexpr char kFooter[] = R"(Durations: 90s, 15m, 2h, 1d, or plain seconds.

Exit status:
  0  done (check: the login would be allowed)
  1  check: the login would be refused
  2  usage or configuration error
  3  store unavailable (or not permitted: run as root)

See defenderctl(8).)";

int Main(int argc, char** argv) {
  CLI::App app{
      "Manage pam_defender: list, check, block and unblock users and hosts, "
      "prune the attempt log, validate the configuration, export statistics.",
      "defenderctl"};
  app.set_version_flag("--version", "defenderctl " DEFENDER_VERSION,
                       "Print the version and exit");
  GlobalOptions globals;
  globals.statedir = CliStateDir();
  app.add_option("-c,--config", globals.config_path,
                 std::string("Configuration file (default ") +
                     Config::kDefaultConfigPath + ")")
      ->type_name("PATH");
  app.add_flag("--json", globals.json, "Machine output: JSON on stdout");
  app.require_subcommand(1);
  app.footer(kFooter);

  std::vector<std::pair<CLI::App*, Runner>> runners;
  for (const Command& c : Commands()) {
    CLI::App* sub = app.add_subcommand(c.name, c.description);
    sub->fallthrough();  // Global options may follow the command.
    runners.emplace_back(sub, c.define(sub));
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version "fail" with code 0 and print to stdout.
    if (e.get_exit_code() == 0) return app.exit(e);
    std::fprintf(stderr,
                 "defenderctl: %s\nRun 'defenderctl --help' for usage.\n",
                 e.what());
    return kExitUsage;
  }

  Context ctx(globals, CliClock());
  for (size_t i = 0; i < runners.size(); ++i) {
    if (!runners[i].first->parsed()) continue;
    // doctor loads the configuration itself: a broken one is a finding.
    if (!app.got_subcommand("doctor") &&
        !ctx.LoadConfig(Commands()[i].tolerates_invalid_config)) {
      return kExitUsage;
    }
    return runners[i].second(&ctx);
  }
  return kExitUsage;  // Unreachable: require_subcommand(1).
}

}  // namespace
}  // namespace defender::ctl

int main(int argc, char** argv) {
  defender::SetParallelRunner(&defender::ctl::RunOnThreads);
  try {
    const int rc = defender::ctl::Main(argc, argv);
    if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
      std::perror("defenderctl: stdout");
      return defender::ctl::kExitUsage;
    }
    return rc;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "defenderctl: internal error: %s\n", e.what());
  } catch (...) {
    std::fprintf(stderr, "defenderctl: internal error\n");
  }
  return 70;  // EX_SOFTWARE
}
