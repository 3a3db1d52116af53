// defenderctl doctor [--root DIR] [--removal]
//
// Runs the checks of doctor.h and prints each finding with its fix; exits
// 0 when no problem was found, 1 otherwise. --removal (used by the
// package's prerm) only lists the PAM lines that removing the package would
// leave dangling.
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>

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

// The value of `name` in the environment of process `pid` ("" if none).
std::string EnvironOf(long pid, const std::string& name) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/environ",
                   std::ios::binary);
  std::string entry;
  while (std::getline(in, entry, '\0')) {
    if (entry.size() > name.size() &&
        entry.compare(0, name.size(), name) == 0 && entry[name.size()] == '=') {
      return entry.substr(name.size() + 1);
    }
  }
  return "";
}

// The parent of process `pid` (0 if unknown): field 4 of /proc/PID/stat,
// after the command name in parentheses.
long ParentOf(long pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  const std::string stat((std::istreambuf_iterator<char>(in)),
                         std::istreambuf_iterator<char>());
  const size_t close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream rest(stat.substr(close + 1));
  std::string state;
  long ppid = 0;
  rest >> state >> ppid;
  return ppid;
}

// The command name of process `pid` (/proc/PID/comm), "" if unknown.
std::string CommandOf(long pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
  std::string comm;
  std::getline(in, comm);
  return comm;
}

// SSH_CONNECTION; or under sudo (SUDO_USER set), whose env_reset drops it
// ("sudo defenderctl doctor" in an ssh session), that of sudo's own
// process, which was started with the session's environment. The search
// goes up the parent processes no further than the first sudo: past it, a
// tmux server or a daemon started from another session could hold an old
// address.
std::string SshConnection() {
  if (const char* ssh = std::getenv("SSH_CONNECTION")) return ssh;
  if (std::getenv("SUDO_USER") == nullptr) return "";
  long pid = ParentOf(getpid());
  for (int depth = 0; depth < 4 && pid > 1; ++depth) {
    const std::string ssh = EnvironOf(pid, "SSH_CONNECTION");
    if (!ssh.empty() || CommandOf(pid) == "sudo") return ssh;
    pid = ParentOf(pid);
  }
  return "";
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
    d.ssh_connection = SshConnection();
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
