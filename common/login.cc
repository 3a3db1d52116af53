#include "common/login.h"

namespace defender {

Login NormalizeLogin(const RawLoginItems& raw, const Config& cfg) {
  Login login;
  login.service = EscapeText(raw.service, kMaxSubjectBytes);
  login.tty = EscapeText(raw.tty, kMaxSubjectBytes);
  login.user = NormalizeUser(raw.user, cfg.fold_username_case);
  login.host = NormalizeHost(raw.rhost, static_cast<int>(cfg.ipv6_prefix));
  login.other_local_caller =
      !login.host && raw.setuid_caller && !raw.caller_is_user;
  return login;
}

}  // namespace defender
