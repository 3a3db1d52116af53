// defenderctl attempts [--user U] [--host H] [--result R] [--since DUR]
//                      [--limit N]
#include <CLI/CLI.hpp>
#include <charconv>
#include <memory>
#include <optional>

#include "common/format.h"
#include "common/normalize.h"
#include "defenderctl/command.h"
#include "defenderctl/context.h"
#include "defenderctl/output.h"
#include "defenderctl/subjects.h"

namespace defender::ctl {
namespace {

struct AttemptsOptions {
  std::optional<std::string> user;
  std::optional<std::string> host;
  std::optional<std::string> result;
  std::optional<std::string> since;
  // A whole number from 0 (all) to 2^63 - 1, parsed by RunAttempts: a
  // number out of range is a usage error, not a limit CLI11 made of it.
  std::string limit = "100";
  NameFormFlags name_form;
};

// Binds the options of `attempts` to the flags of `sub`.
void AddFlags(CLI::App* sub, AttemptsOptions* opt) {
  sub->add_option("--user", opt->user, "Only attempts by this user")
      ->type_name("U");
  AddNameFormFlags(sub, &opt->name_form);
  sub->add_option("--host", opt->host,
                  "Only attempts from this host (normalised as the module "
                  "does)")
      ->type_name("H");
  sub->add_option("--result", opt->result, "Only this result")
      ->type_name("R")
      ->check(CLI::IsMember({"failure", "success", "refused"}));
  sub->add_option("--since", opt->since, "Only the last DUR (e.g. 15m, 2h)")
      ->type_name("DUR");
  sub->add_option("--limit", opt->limit,
                  "At most N rows, newest first (0 = all)")
      ->type_name("N")
      ->capture_default_str();
}

Json AttemptJson(const Attempt& a) {
  Json o;
  o["time"] = FormatIso8601(a.time);
  o["service"] = a.service;
  o["user"] = a.user.empty() ? Json(nullptr) : Json(a.user);
  o["host"] = a.host.empty() ? Json(nullptr) : Json(a.host);
  o["tty"] = a.tty;
  o["result"] = a.result;
  return o;
}

int RunAttempts(Context* ctx, const AttemptsOptions& opt) {
  const Config& cfg = ctx->config();
  int64_t limit = -1;
  const char* end = opt.limit.data() + opt.limit.size();
  const auto [at, ec] = std::from_chars(opt.limit.data(), end, limit);
  if (ec != std::errc() || at != end || limit < 0) {
    PrintError("--limit: must be a whole number, 0 (all) or more, not \"" +
               opt.limit + "\"");
    return kExitUsage;
  }
  std::string err;
  AttemptFilter filter;
  filter.limit = limit;
  filter.result = opt.result;
  if (opt.user) {
    std::string user;
    if (!ResolveUser(cfg, *opt.user, opt.name_form.form(), &user, &err)) {
      PrintError(err);
      return kExitUsage;
    }
    filter.user = std::move(user);
  }
  if (opt.host) {
    std::string host;
    if (!ResolveHost(cfg, *opt.host, opt.name_form.form(), &host, &err)) {
      PrintError(err);
      return kExitUsage;
    }
    filter.host = std::move(host);
  }
  if (!CheckNameForm(opt.name_form.form(), opt.user.has_value(),
                     opt.host.has_value(), &err)) {
    PrintError(err);
    return kExitUsage;
  }
  if (opt.since) {
    const std::optional<int64_t> d = ParseDuration(*opt.since);
    if (!d) {
      PrintError("--since: invalid duration \"" + EscapeText(*opt.since, 40) +
                 "\" (use 90s, 15m, 2h, 1d or seconds)");
      return kExitUsage;
    }
    filter.since = ctx->Now() - *d;
  }

  bool off = false;
  AttemptArchive* archive = ctx->OpenArchive(&off);
  if (!archive && !off) return kExitStore;
  std::vector<Attempt> rows;
  if (archive && !archive->log()->Query(filter, &rows, &err)) {
    PrintError("store unavailable: " + err);
    return kExitStore;
  }

  if (ctx->json()) {
    Json out = Json::array();
    for (const Attempt& a : rows) out.push_back(AttemptJson(a));
    PrintJson(out);
    return kExitOk;
  }
  if (!archive) {
    PrintOut("no attempts: the attempt log is off (attempts.store = false)\n");
    return kExitOk;
  }
  if (rows.empty()) {
    const bool filtered = opt.user || opt.host || opt.result || opt.since;
    PrintOut(filtered ? "no matching attempts\n" : "no attempts\n");
    return kExitOk;
  }
  Table table({"TIME", "SERVICE", "USER", "HOST", "TTY", "RESULT"});
  for (const Attempt& a : rows) {
    table.Add({LocalTime(a.time), DisplayName(a.service), DisplayName(a.user),
               DisplayName(a.host), DisplayName(a.tty), a.result});
  }
  PrintOut(table.Render());
  return kExitOk;
}

}  // namespace

Runner DefineAttempts(CLI::App* sub) {
  return BindOptions(sub, AddFlags, RunAttempts);
}

}  // namespace defender::ctl
