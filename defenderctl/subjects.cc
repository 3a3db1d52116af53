#include "defenderctl/subjects.h"

#include <CLI/CLI.hpp>
#include <algorithm>

#include "common/normalize.h"
#include "common/redis_url.h"
#include "defenderctl/output.h"

namespace defender::ctl {

bool SubjectsFromArgs(const Config& cfg, const std::optional<std::string>& user,
                      NameForm form, const std::optional<std::string>& host,
                      std::vector<Subject>* out, std::string* err) {
  if (user) {
    std::string u;
    if (!ResolveUser(cfg, *user, form, &u, err)) return false;
    out->push_back(Subject{SubjectKind::kUser, std::move(u)});
  }
  if (host) {
    std::string h;
    if (!ResolveHost(cfg, *host, form, &h, err)) return false;
    out->push_back(Subject{SubjectKind::kHost, std::move(h)});
  }
  return CheckNameForm(form, user.has_value(), host.has_value(), err);
}

void AddNameFormFlags(CLI::App* sub, NameFormFlags* flags) {
  CLI::Option* typed = sub->add_flag(
      "--typed", flags->typed,
      "--user and --host are names as given at login, '%' and all");
  CLI::Option* shown = sub->add_flag(
      "--shown", flags->shown,
      "--user and --host are names as defenderctl shows them (%XX escapes "
      "stand for bytes)");
  typed->excludes(shown);
}

bool CheckNameForm(NameForm form, bool user, bool host, std::string* err) {
  if (form == NameForm::kEither || user || host) return true;
  *err = std::string(form == NameForm::kTyped ? "--typed" : "--shown") +
         " needs --user or --host";
  return false;
}

namespace {

bool HasCapital(std::string_view s) {
  return std::any_of(s.begin(), s.end(),
                     [](char c) { return c >= 'A' && c <= 'Z'; });
}

// The subject of which `arg` is the shown text, for the bytes *raw it
// decodes to, or nullopt: its "%XX" escapes (upper-case hex) decode to
// bytes without a NUL that the module stores (`escape`: EscapeText for a
// user, EscapeHostName for a host), untrimmed and uncut, as exactly `arg`
// or its DisplayName, and that the module's trim and cut can have left so.
// *cut tells whether the subject ends in a blank, which only a cut leaves.
std::optional<std::string> ShownSubject(std::string_view arg,
                                        std::string (*escape)(std::string_view,
                                                              size_t),
                                        std::string* raw, bool* cut) {
  if (!PercentDecode(arg, raw, nullptr, /*upper_only=*/true) || raw->empty() ||
      raw->find('\0') != std::string::npos) {
    return std::nullopt;
  }
  // None when the module would cut it.
  std::string subject = escape(*raw, std::string::npos);
  if (subject.size() > kMaxSubjectBytes) return std::nullopt;
  if (arg != subject && arg != DisplayName(subject)) return std::nullopt;
  // The module trims blanks around a name: a subject starts with none,
  // and ends with one only where the cut fell right after it (the unit
  // after it did not fit, and one is at most 12 bytes escaped).
  const auto blank = [](char c) {
    return c == ' ' || (c >= '\t' && c <= '\r');
  };
  *cut = blank(raw->back());
  if (blank(raw->front()) ||
      (*cut && subject.size() + 12 <= kMaxSubjectBytes)) {
    return std::nullopt;
  }
  return subject;
}

// ResolveUser and ResolveHost once their two readings are known: `option`
// is "--user" or "--host", `kind` "user" or "host", `given` how the typed
// reading came to be, `empty` the error when it names nothing.
bool ChooseReading(const char* option, const char* kind, const char* given,
                   const std::string& empty, std::string_view arg,
                   const std::optional<std::string>& typed,
                   const std::optional<std::string>& shown, NameForm form,
                   std::string* out, std::string* err) {
  const std::string quoted = ShellWord(EscapeForDisplay(arg));
  if (form == NameForm::kShown) {
    if (!shown) {
      *err = std::string(option) + " " + quoted + " is not a " + kind +
             " name as defenderctl shows it (--shown)";
      return false;
    }
    *out = *shown;
    return true;
  }
  if (!typed) {
    *err = empty;
    return false;
  }
  if (form == NameForm::kEither && shown && *shown != *typed) {
    *err = std::string(option) + " " + quoted + " reads two ways: " + kind +
           " " + ShellWord(DisplayName(*typed)) + " as " + given + ", " + kind +
           " " + ShellWord(DisplayName(*shown)) +
           " as defenderctl shows it; add --typed or --shown";
    return false;
  }
  *out = *typed;
  return true;
}

}  // namespace

std::optional<std::string> ShownUserSubject(std::string_view arg,
                                            bool fold_username_case) {
  std::string raw;
  bool cut = false;
  std::optional<std::string> subject =
      ShownSubject(arg, EscapeText, &raw, &cut);
  if (fold_username_case && HasCapital(raw)) return std::nullopt;
  return subject;
}

std::optional<std::string> ShownHostSubject(std::string_view arg,
                                            int ipv6_prefix) {
  // An address, or a network as list shows it, without escapes or blanks
  // (typed, they would be trimmed): read as typed.
  if (arg.find_first_of("% \t\n\v\f\r") == std::string_view::npos) {
    std::string ignored;
    if (std::optional<Host> h = HostFromArg(arg, ipv6_prefix, &ignored);
        h && h->ip) {
      return std::move(h->subject);
    }
  }
  std::string raw;
  bool cut = false;
  std::optional<std::string> subject =
      ShownSubject(arg, EscapeHostName, &raw, &cut);
  // A name is stored lower-cased; one that is an address whole (not cut
  // out of a longer name) is stored canonical, without escapes
  // ("fe80::1%25eth0" decodes to an address with a zone).
  if (!subject || HasCapital(raw) || (!cut && ParseIp(raw))) {
    return std::nullopt;
  }
  return subject;
}

std::optional<Host> HostFromArg(std::string_view arg, int ipv6_prefix,
                                std::string* err) {
  constexpr std::string_view kBlanks = " \t\n\v\f\r";
  const size_t first = arg.find_first_not_of(kBlanks);
  const std::string_view text =
      first == std::string_view::npos
          ? std::string_view()
          : arg.substr(first, arg.find_last_not_of(kBlanks) - first + 1);
  std::string ignored;
  if (text.find('/') != std::string_view::npos) {
    if (const std::optional<Cidr> net = ParseCidr(text, &ignored)) {
      // The subject of an IPv6 network: of ipv6_prefix bits, or of another
      // prefix as list shows it (a block made before ipv6_prefix changed,
      // or by a host of a shared Redis set otherwise).
      if (net->base.v6 && net->prefix < 128 &&
          (net->prefix == ipv6_prefix || net->ToString() == text)) {
        return Host{net->ToString(), net->base};
      }
      *err = "--host " + ShellWord(EscapeForDisplay(arg)) +
             ": no host subject is such a network (hosts are IPv4 "
             "addresses, IPv6 /" +
             std::to_string(ipv6_prefix) +
             " networks and names); give an address";
      return std::nullopt;
    }
  }
  std::optional<Host> h = NormalizeHost(arg, ipv6_prefix);
  if (!h) *err = "--host: empty host";
  return h;
}

bool ResolveHost(const Config& cfg, std::string_view arg, NameForm form,
                 std::string* host, std::string* err) {
  const int prefix = static_cast<int>(cfg.ipv6_prefix);
  std::optional<std::string> typed;
  std::string typed_err;
  if (std::optional<Host> h = HostFromArg(arg, prefix, &typed_err)) {
    typed = std::move(h->subject);
  }
  return ChooseReading("--host", "host", "given at login", typed_err, arg,
                       typed, ShownHostSubject(arg, prefix), form, host, err);
}

bool ResolveUser(const Config& cfg, std::string_view arg, NameForm form,
                 std::string* user, std::string* err) {
  return ChooseReading(
      "--user", "user", "typed at login", "--user: empty user name", arg,
      NormalizeUser(arg, cfg.fold_username_case),
      ShownUserSubject(arg, form != NameForm::kShown && cfg.fold_username_case),
      form, user, err);
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
