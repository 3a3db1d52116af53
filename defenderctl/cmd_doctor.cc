// defenderctl doctor [--root DIR] [--removal]
//
// Runs the checks of doctor.h and prints each finding with its fix; exits
// 0 when no problem was found, 1 otherwise. --removal (used by the
// package's prerm) only lists the PAM lines that removing the package would
// leave dangling.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdlib>

#include "common/normalize.h"
#include "defenderctl/command.h"
#include "defenderctl/context.h"
#include "defenderctl/doctor.h"
#include "defenderctl/output.h"

namespace defender::ctl {
namespace {

struct Options {
  std::string root = "/";
  bool removal = false;
};

void AddFlags(CLI::App* sub, Options* opt) {
  sub->add_option("--root", opt->root,
                  "Check the installation under DIR instead of /")
      ->type_name("DIR");
  sub->add_flag("--removal", opt->removal,
                "Only list the PAM lines that removing the package would "
                "leave naming a missing module");
}

std::string Where(const Finding& f) {
  return f.line > 0 ? f.file + ":" + std::to_string(f.line) : f.file;
}

int RunDoctor(Context* ctx, const Options& opt) {
  std::vector<Finding> findings;
  if (opt.removal) {
    findings = RemovalFindings(opt.root);
  } else {
    DoctorOptions d;
    d.root = opt.root;
    d.config_path = ctx->config_path();
    const char* ssh = std::getenv("SSH_CONNECTION");
    d.ssh_connection = ssh ? ssh : "";
    findings = RunDoctor(d);
  }
  const bool problems =
      std::any_of(findings.begin(), findings.end(),
                  [](const Finding& f) { return f.severity == "problem"; });
  Json json;
  json["ok"] = !problems;
  json["findings"] = Json::array();
  std::string text;
  for (const Finding& f : findings) {
    json["findings"].push_back({{"key", f.key},
                                {"severity", f.severity},
                                {"file", f.file},
                                {"line", f.line > 0 ? Json(f.line) : Json()},
                                {"message", f.message},
                                {"fix", f.fix}});
    text += std::string(f.severity == "problem" ? "PROBLEM" : "note") + " " +
            f.key + " (" + EscapeForDisplay(Where(f)) +
            "): " + EscapeForDisplay(f.message) +
            "\n  fix: " + EscapeForDisplay(f.fix) + "\n";
  }
  if (opt.removal && problems) {
    text =
        "pam-defender cannot be removed safely: these PAM lines name "
        "pam_defender.so and would make every login through their service "
        "fail once the module is gone.\n" +
        text;
  }
  if (!problems) {
    text += opt.removal ? "no PAM file names pam_defender.so by hand\n"
                        : "no problem found\n";
  }
  PrintResult(*ctx, json, text);
  return problems ? kExitRefused : kExitOk;
}

}  // namespace

Runner DefineDoctor(CLI::App* sub) {
  return BindOptions(sub, AddFlags, RunDoctor);
}

}  // namespace defender::ctl
