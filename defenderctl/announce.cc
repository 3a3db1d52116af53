#include "defenderctl/announce.h"

#include <syslog.h>
#include <unistd.h>

#include "common/format.h"
#include "common/hooks.h"
#include "common/normalize.h"
#include "defenderctl/context.h"

namespace defender::ctl {

void Announce(const Config& cfg, const Event& e) {
  const bool block = e.type == Event::Type::kBlock;
  const std::string length = !block ? ""
                             : e.until == 0
                                 ? " permanently"
                                 : " until " + FormatIso8601(e.until);
  openlog(kService, LOG_PID, LOG_AUTHPRIV);
  syslog(LOG_NOTICE, "%s %s %s%s by administrator (uid %u)",
         block ? "blocked" : "unblocked", KindName(e.subject.kind),
         EscapeForDisplay(e.subject.name).c_str(), length.c_str(),
         static_cast<unsigned>(getuid()));
  closelog();
  const std::vector<std::string>& hook = block ? cfg.on_block : cfg.on_unblock;
  std::string err;
  if (!hook.empty() &&
      !SpawnDetached(hook, HookEnvironment(e, kService),
                     static_cast<int>(cfg.hooks_timeout_seconds), &err)) {
    PrintWarning("hook not started: " + err);
  }
}

}  // namespace defender::ctl
