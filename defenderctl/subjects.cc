#include "defenderctl/subjects.h"

#include <CLI/CLI.hpp>
#include <algorithm>

#include "common/normalize.h"
#include "common/redis_url.h"
#include "defenderctl/output.h"

namespace defender::ctl {

bool SubjectsFromArgs(const Config& cfg, const std::optional<std::string>& user,
                      UserForm form, const std::optional<std::string>& host,
                      std::vector<Subject>* out, std::string* err) {
  if (user) {
    std::string u;
    if (!ResolveUser(cfg, *user, form, &u, err)) return false;
    out->push_back(Subject{SubjectKind::kUser, std::move(u)});
  }
  if (host) {
    std::optional<Host> h =
        NormalizeHost(*host, static_cast<int>(cfg.ipv6_prefix));
    if (!h) {
      *err = "--host: empty host";
      return false;
    }
    out->push_back(Subject{SubjectKind::kHost, h->subject});
  }
  return true;
}

void AddUserFormFlags(CLI::App* sub, CLI::Option* user, UserFormFlags* flags) {
  CLI::Option* typed =
      sub->add_flag("--typed", flags->typed,
                    "--user is the name as typed at login, '%' and all");
  CLI::Option* shown = sub->add_flag(
      "--shown", flags->shown,
      "--user is the name as defenderctl shows it (%XX escapes stand for "
      "bytes)");
  typed->needs(user)->excludes(shown);
  shown->needs(user);
}

std::optional<std::string> ShownUserSubject(std::string_view arg,
                                            bool fold_username_case) {
  std::string raw;
  if (!PercentDecode(arg, &raw, nullptr, /*upper_only=*/true) || raw.empty() ||
      raw.find('\0') != std::string::npos) {
    return std::nullopt;
  }
  // What the module stores for a login typed as `raw`, without the trim
  // (a subject cut at kMaxSubjectBytes may end in a blank); none when the
  // module would cut it.
  const std::string subject = EscapeText(raw, std::string::npos);
  if (subject.size() > kMaxSubjectBytes) return std::nullopt;
  if (arg != subject && arg != DisplayName(subject)) return std::nullopt;
  // The module trims blanks around a name: a subject starts with none,
  // and ends with one only where the cut fell right after it (the unit
  // after it did not fit, and one is at most 12 bytes escaped).
  const auto blank = [](char c) {
    return c == ' ' || (c >= '\t' && c <= '\r');
  };
  if (blank(raw.front()) ||
      (blank(raw.back()) && subject.size() + 12 <= kMaxSubjectBytes)) {
    return std::nullopt;
  }
  if (fold_username_case && std::any_of(raw.begin(), raw.end(), [](char c) {
        return c >= 'A' && c <= 'Z';
      })) {
    return std::nullopt;
  }
  return subject;
}

bool ResolveUser(const Config& cfg, std::string_view arg, UserForm form,
                 std::string* user, std::string* err) {
  const std::optional<std::string> typed =
      NormalizeUser(arg, cfg.fold_username_case);
  const std::optional<std::string> shown =
      ShownUserSubject(arg, form != UserForm::kShown && cfg.fold_username_case);
  const std::string quoted = ShellWord(EscapeForDisplay(arg));
  if (form == UserForm::kShown) {
    if (!shown) {
      *err = "--user " + quoted +
             " is not a user name as defenderctl shows it (--shown)";
      return false;
    }
    *user = *shown;
    return true;
  }
  if (!typed) {
    *err = "--user: empty user name";
    return false;
  }
  if (form == UserForm::kEither && shown && *shown != *typed) {
    *err = "--user " + quoted + " reads two ways: user " + ShellWord(*typed) +
           " as typed at login, user " + ShellWord(*shown) +
           " as defenderctl shows it; add --typed or --shown";
    return false;
  }
  *user = *typed;
  return true;
}

std::string ExemptionOf(const Config& cfg, const Subject& s) {
  if (s.kind == SubjectKind::kUser) {
    if (cfg.disable_user_lockout) return "disable_user_lockout = true";
    if (s.name == "root" && !cfg.even_deny_root) {
      return "root is never blocked (even_deny_root = false)";
    }
    if (std::find(cfg.allow_users.begin(), cfg.allow_users.end(), s.name) !=
        cfg.allow_users.end()) {
      return "in allow_users";
    }
    return "";
  }
  if (cfg.disable_host_lockout) return "disable_host_lockout = true";
  // A normalised host is an address, a /prefix network, or a name; only
  // addresses can match allow_hosts (as in the module).
  const std::string addr = s.name.substr(0, s.name.find('/'));
  const std::optional<IpAddress> ip = ParseIp(addr);
  if (ip && std::any_of(cfg.allow_hosts.begin(), cfg.allow_hosts.end(),
                        [&](const Cidr& n) { return n.Contains(*ip); })) {
    return "in allow_hosts";
  }
  return "";
}

}  // namespace defender::ctl
