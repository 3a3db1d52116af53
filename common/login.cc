#include "common/login.h"

namespace defender {

Login NormalizeLogin(const RawLoginItems& raw, const Config& cfg) {
  Login login;
  login.service = EscapeText(raw.service, kMaxSubjectBytes);
  login.tty = EscapeText(raw.tty, kMaxSubjectBytes);
  login.user = NormalizeUser(raw.user, cfg.fold_username_case);
  login.host = NormalizeHost(raw.rhost, static_cast<int>(cfg.ipv6_prefix));
  if (!login.host && raw.setuid_caller) {
    const std::optional<std::string> ruser =
        NormalizeUser(raw.ruser, cfg.fold_username_case);
    login.other_local_caller = !ruser || !login.user || *ruser != *login.user;
  }
  return login;
}

}  // namespace defender
