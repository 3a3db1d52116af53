// defenderctl check --user U [--host H]
//
// Asks the module's own Policy::Check (without logging) whether a login by
// U from H would be refused now, so the CLI and the module never disagree.
#include <CLI/CLI.hpp>
#include <memory>
#include <optional>

#include "common/login.h"
#include "common/normalize.h"
#include "common/policy.h"
#include "defenderctl/announce.h"
#include "defenderctl/command.h"
#include "defenderctl/context.h"
#include "defenderctl/output.h"
#include "defenderctl/subjects.h"

namespace defender::ctl {
namespace {

struct CheckOptions {
  std::string user;
  std::optional<std::string> host;
  NameFormFlags name_form;
};

// Binds the options of `check` to the flags of `sub`.
void AddFlags(CLI::App* sub, CheckOptions* opt) {
  sub->add_option("--user", opt->user, "The user logging in")
      ->type_name("U")
      ->required();
  AddNameFormFlags(sub, &opt->name_form);
  sub->add_option("--host", opt->host, "The remote host (none: a local login)")
      ->type_name("H");
}

// One line per subject of the attempt: its state, or why it is exempt.
struct SubjectReport {
  Subject subject;
  std::optional<SubjectState> state;  // Counted subjects.
  int64_t limit = 0;
  std::string exempt;   // Exempt subjects.
  bool denied = false;  // A host in deny_hosts.
};

std::vector<SubjectReport> Reports(const Config& cfg, const Decision& d,
                                   const std::vector<SubjectState>& states) {
  std::vector<SubjectReport> out;
  for (size_t i = 0; i < d.who.subjects.size(); ++i) {
    const bool denied =
        d.who.host_denied && d.who.subjects[i].kind == SubjectKind::kHost;
    out.push_back({d.who.subjects[i], states[i], d.who.limits[i], "", denied});
  }
  // Subjects the attempt has but the policy does not count.
  const auto counted = [&](SubjectKind k) {
    for (const Subject& s : d.who.subjects) {
      if (s.kind == k) return true;
    }
    return false;
  };
  if (d.who.user && !counted(SubjectKind::kUser)) {
    const Subject s{SubjectKind::kUser, *d.who.user};
    out.insert(out.begin(), {s, std::nullopt, 0, ExemptionOf(cfg, s), false});
  }
  if (d.who.host && !counted(SubjectKind::kHost)) {
    const Subject s{SubjectKind::kHost, d.who.host->subject};
    out.push_back({s, std::nullopt, 0, ExemptionOf(cfg, s), d.who.host_denied});
  }
  return out;
}

std::string StateText(const SubjectReport& r, int64_t now) {
  if (r.denied) return "in deny_hosts";
  if (!r.state) return r.exempt.empty() ? "not counted" : r.exempt;
  const SubjectState& s = *r.state;
  std::string text = std::to_string(s.failures) + " failure(s), limit " +
                     std::to_string(r.limit);
  // doc/DESIGN.md §3.14: which of the user and the pair decides.
  if (s.exempt) {
    text += r.subject.kind == SubjectKind::kUser
                ? ", does not refuse from a remembered host"
                : ", not a remembered host: not counted";
  }
  if (s.permanent()) return "blocked permanently, " + text;
  if (s.blocked) {
    return "blocked until " + LocalTime(s.until) + " (" + LeftText(s, now) +
           " left), " + text;
  }
  return text;
}

int RunCheck(Context* ctx, const CheckOptions& opt) {
  const Config& cfg = ctx->config();
  // The login asked about, normalised once as the module does (login.h).
  Login login = NormalizeLogin(
      RawLoginItems{kService, opt.user, opt.host.value_or(""), ""}, cfg);
  // Refuse arguments that name nothing, rather than check a different
  // attempt than the one asked about.
  if (!login.user || (opt.host && !login.host)) {
    PrintError(!login.user ? "--user: empty user name" : "--host: empty host");
    return kExitUsage;
  }
  std::string err;
  if (!ResolveUser(cfg, opt.user, opt.name_form.form(), &*login.user, &err)) {
    PrintError(err);
    return kExitUsage;
  }
  std::string host;
  if (opt.host) {
    if (!ResolveHost(cfg, *opt.host, opt.name_form.form(), &host, &err)) {
      PrintError(err);
      return kExitUsage;
    }
    // A network's text (its subject) or a name as shown: no address. A
    // login comes from an address, and allow_hosts and deny_hosts may cover
    // part of a network only.
    if (host != login.host->subject) {
      if (host.find('/') != std::string::npos) {
        PrintError("--host " + ShellWord(EscapeForDisplay(*opt.host)) +
                   ": check asks about a login, which comes from an "
                   "address: give one of the network's");
        return kExitUsage;
      }
      login.host = Host{host, std::nullopt};
    }
  }
  Backend* backend = ctx->OpenBackend();
  if (!backend) return kExitStore;
  Policy policy(cfg, backend->store(), /*log=*/nullptr, ctx->clock());
  Decision d;
  std::vector<SubjectState> states;
  const int64_t now = ctx->Now();
  if (!policy.Check(login, /*log_refusal=*/false, &d, &err) ||
      !backend->store()->Get(d.who.subjects, now, &states, &err)) {
    PrintError("store unavailable: " + err);
    return kExitStore;
  }
  const std::vector<SubjectReport> reports = Reports(cfg, d, states);
  const int rc = d.refused ? kExitRefused : kExitOk;

  if (ctx->json()) {
    Json out;
    out["user"] = d.who.user ? Json(*d.who.user) : Json(nullptr);
    out["host"] = d.who.host ? Json(d.who.host->subject) : Json(nullptr);
    out["refused"] = d.refused;
    out["mode"] = cfg.report_only ? "report" : "enforce";
    out["reason"] = d.reason;
    if (d.refused_by) {
      out["refused_by"] = {{"kind", KindName(d.refused_by->kind)},
                           {"subject", d.refused_by->name}};
    } else {
      out["refused_by"] = nullptr;
    }
    out["permanent"] = d.refused && d.permanent;
    out["remaining_seconds"] =
        d.refused && !d.permanent ? Json(d.remaining_seconds) : Json(nullptr);
    out["subjects"] = Json::array();
    for (const SubjectReport& r : reports) {
      Json o = r.state ? StateJson(r.subject, *r.state, now) : Json();
      if (!r.state) {
        o["kind"] = KindName(r.subject.kind);
        o["subject"] = r.subject.name;
      }
      o["limit"] = r.state ? Json(r.limit) : Json(nullptr);
      o["exempt"] = r.state ? Json(nullptr) : Json(r.exempt);
      o["denied"] = r.denied;
      out["subjects"].push_back(o);
    }
    PrintJson(out);
    return rc;
  }
  // Report mode (doc/DESIGN.md §3.16): the verdict enforce would give, and
  // the same exit code, worded as what would happen. The reason of an
  // allowed attempt is "allowed", or starts with it.
  const char* refused =
      cfg.report_only ? "would refuse (report mode): " : "refused: ";
  std::string text =
      (d.refused ? refused : "") + EscapeForDisplay(d.reason) + "\n";
  Table table({"KIND", "SUBJECT", "STATE"});
  for (const SubjectReport& r : reports) {
    table.Add({KindName(r.subject.kind), DisplayName(r.subject.name),
               StateText(r, now)});
  }
  PrintOut(text + table.Render());
  return rc;
}

}  // namespace

Runner DefineCheck(CLI::App* sub) {
  return BindOptions(sub, AddFlags, RunCheck);
}

}  // namespace defender::ctl
