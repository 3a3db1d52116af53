// defenderctl list [--users] [--hosts] [--all] | list --remembered
#include <CLI/CLI.hpp>
#include <algorithm>
#include <map>
#include <memory>
#include <span>

#include "common/archive.h"
#include "common/format.h"
#include "common/normalize.h"
#include "common/remember.h"
#include "defenderctl/block_cause.h"
#include "defenderctl/command.h"
#include "defenderctl/context.h"
#include "defenderctl/output.h"

namespace defender::ctl {
namespace {

struct ListOptions {
  bool users = false;
  bool hosts = false;
  bool all = false;
  bool remembered = false;
};

// Binds the options of `list` to the flags of `sub`.
void AddFlags(CLI::App* sub, ListOptions* opt) {
  sub->add_flag("--users", opt->users, "Only users");
  sub->add_flag("--hosts", opt->hosts, "Only hosts");
  sub->add_flag("--all", opt->all,
                "Also subjects with failures that are not blocked");
  CLI::Option* remembered = sub->add_flag(
      "--remembered", opt->remembered,
      "The remembered hosts of each user (lockout.remember_hosts_days)");
  remembered->excludes(sub->get_option("--users"))
      ->excludes(sub->get_option("--hosts"))
      ->excludes(sub->get_option("--all"));
}

// list --remembered: user, host, last success, until.
int RunRemembered(Context* ctx, Store* store) {
  const int64_t now = ctx->Now();
  std::vector<RememberedEntry> entries;
  std::string err;
  if (!store->ListRemembered(now, &entries, &err)) {
    PrintError("store unavailable: " + err);
    return kExitStore;
  }
  // The hour of the last success (its start), as the current config's
  // remember_hosts_days tells: a success remembers its host to the end of
  // the hour in which the days end (RememberUntil).
  const int64_t days = ctx->config().RememberSeconds();
  if (ctx->json()) {
    Json out = Json::array();
    for (const RememberedEntry& e : entries) {
      Json o;
      o["user"] = e.user;
      o["host"] = e.host;
      o["last_success"] = RememberedSince(e.until, days);
      o["until"] = e.until;
      out.push_back(o);
    }
    PrintJson(out);
    return kExitOk;
  }
  if (entries.empty()) {
    PrintOut("no remembered hosts\n");
    return kExitOk;
  }
  Table table({"USER", "HOST", "LAST SUCCESS", "UNTIL"});
  for (const RememberedEntry& e : entries) {
    table.Add({DisplayName(e.user), DisplayName(e.host),
               LocalTime(RememberedSince(e.until, days)), LocalTime(e.until)});
  }
  PrintOut(table.Render());
  return kExitOk;
}

// What blocked each blocked subject of `entries` (block_cause.h), from the
// failures of the archive within the block history window. Empty when the
// attempt log is off, or cannot be read: the list itself does not need it,
// so that is a warning ("block causes unavailable: REASON"), not an error.
std::map<CauseKey, BlockCause> Causes(Context* ctx,
                                      std::span<const StoreEntry> entries,
                                      int64_t now) {
  if (std::none_of(entries.begin(), entries.end(),
                   [](const StoreEntry& e) { return e.state.blocked; })) {
    return {};
  }
  constexpr char kWhat[] = "block causes";
  bool off = false;
  AttemptArchive* archive =
      ctx->OpenArchive(&off, Context::ArchiveUse::kOptional, kWhat);
  if (archive == nullptr) return {};
  AttemptFilter filter;
  filter.result = "failure";
  filter.since = now - ctx->config().HistorySeconds();
  // Row by row, until every blocked subject has its cause: an attack's
  // million failures in the window are never all in memory.
  BlockCauses causes(entries);
  std::string err;
  if (!archive->log()->Scan(
          filter, [&causes](const Attempt& a) { return causes.Take(a); },
          &err)) {
    PrintWarning(std::string(kWhat) + " unavailable: " + err);
    return {};
  }
  return causes.causes();
}

int RunList(Context* ctx, const ListOptions& opt) {
  Backend* backend = ctx->OpenBackend();
  if (!backend) return kExitStore;
  if (opt.remembered) return RunRemembered(ctx, backend->store());
  const int64_t now = ctx->Now();
  std::vector<StoreEntry> entries;
  std::string err;
  if (!backend->store()->List(now, !opt.all, &entries, &err)) {
    PrintError("store unavailable: " + err);
    return kExitStore;
  }
  // Neither flag means every kind, pairs (user@host) included.
  const bool users = opt.users || !opt.hosts;
  const bool hosts = opt.hosts || !opt.users;
  std::erase_if(entries, [&](const StoreEntry& e) {
    switch (e.subject.kind) {
      case SubjectKind::kUser:
        return !users;
      case SubjectKind::kHost:
        return !hosts;
      case SubjectKind::kPair:
        break;
    }
    return !(users && hosts);
  });

  if (ctx->config().report_only && !entries.empty()) {
    PrintWarning(
        "report mode (lockout.mode = \"report\"): these blocks are recorded "
        "but refuse nothing (would block)");
  }
  const std::map<CauseKey, BlockCause> causes = Causes(ctx, entries, now);
  const auto cause_of = [&](const StoreEntry& e) -> const BlockCause* {
    auto it = causes.find(CauseKey{e.subject.kind, e.subject.name});
    return it == causes.end() ? nullptr : &it->second;
  };
  if (ctx->json()) {
    Json out = Json::array();
    for (const StoreEntry& e : entries) {
      Json j = StateJson(e.subject, e.state, now);
      const BlockCause* c = cause_of(e);
      j["blocked_by"] = c == nullptr ? Json(nullptr)
                                     : Json{{"service", c->service},
                                            {"peer", c->peer},
                                            {"time", FormatIso8601(c->time)}};
      out.push_back(j);
    }
    PrintJson(out);
    return kExitOk;
  }
  if (entries.empty()) {
    const char* what = users && hosts ? "subjects" : users ? "users" : "hosts";
    PrintOut(std::string(opt.all ? "no blocked or failing " : "no blocked ") +
             what + "\n");
    return kExitOk;
  }
  Table table({"KIND", "SUBJECT", "FAILURES", "UNTIL", "LEFT", "BLOCKED BY"});
  for (const StoreEntry& e : entries) {
    const SubjectState& s = e.state;
    const BlockCause* c = cause_of(e);
    table.Add({KindName(e.subject.kind), DisplayName(e.subject.name),
               std::to_string(s.failures),
               s.blocked && !s.permanent() ? LocalTime(s.until) : "",
               LeftText(s, now),
               c == nullptr ? "" : DescribeCause(e.subject.kind, *c)});
  }
  PrintOut(table.Render());
  return kExitOk;
}

}  // namespace

Runner DefineList(CLI::App* sub) { return BindOptions(sub, AddFlags, RunList); }

}  // namespace defender::ctl
