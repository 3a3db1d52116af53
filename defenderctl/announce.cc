#include "defenderctl/announce.h"

#include <sys/prctl.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include <cerrno>
#include <set>

#include "common/format.h"
#include "common/hooks.h"
#include "common/normalize.h"
#include "defenderctl/context.h"

namespace defender::ctl {
namespace {

// Hooks a command keeps running at once: `unblock --all` after a large
// attack announces thousands of subjects, and started a hook (and its
// supervisor) for each at once.
constexpr size_t kMaxHooksAtOnce = 8;

// The supervisors of the hooks this command started that have not ended
// (SpawnDetached tells their pids). The command is their subreaper
// (prctl), so that it can wait for them; what else it inherits (what a
// hook left running in the background) it reaps without counting.
std::set<pid_t> g_supervisors;

// Reaps the children that have ended, and waits for a supervisor to end
// while kMaxHooksAtOnce still run.
void WaitForHookRoom() {
  static const bool reaper = prctl(PR_SET_CHILD_SUBREAPER, 1) == 0;
  while (reaper && !g_supervisors.empty()) {
    const bool full = g_supervisors.size() >= kMaxHooksAtOnce;
    const pid_t p = waitpid(-1, nullptr, full ? 0 : WNOHANG);
    if (p < 0 && errno == EINTR) continue;
    if (p < 0) g_supervisors.clear();  // No child left (ECHILD).
    if (p <= 0) return;
    g_supervisors.erase(p);
  }
}

}  // namespace

void Announce(const Config& cfg, const Event& e) {
  const bool block = e.type == Event::Type::kBlock;
  const std::string length = !block ? ""
                             : e.until == 0
                                 ? " permanently"
                                 : " until " + FormatIso8601(e.until);
  openlog(kService, LOG_PID, LOG_AUTHPRIV);
  syslog(LOG_NOTICE, "%s %s %s%s by administrator (uid %u)",
         block ? "blocked" : "unblocked", KindName(e.subject.kind),
         DisplayName(e.subject.name).c_str(), length.c_str(),
         static_cast<unsigned>(getuid()));
  closelog();
  const std::vector<std::string>& hook = block ? cfg.on_block : cfg.on_unblock;
  if (hook.empty()) return;
  WaitForHookRoom();
  std::string err;
  pid_t supervisor = 0;
  if (!SpawnDetached(hook, HookEnvironment(e, kService),
                     static_cast<int>(cfg.hooks_timeout_seconds), &err,
                     &supervisor)) {
    PrintWarning("hook not started: " + err);
  } else if (supervisor > 0) {
    g_supervisors.insert(supervisor);
  }
}

}  // namespace defender::ctl
