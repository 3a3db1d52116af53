// defenderctl list [--users] [--hosts] [--all]
#include <CLI/CLI.hpp>
#include <memory>

#include "defenderctl/command.h"
#include "defenderctl/context.h"
#include "defenderctl/output.h"

namespace defender::ctl {
namespace {

struct ListOptions {
  bool users = false;
  bool hosts = false;
  bool all = false;
};

// Binds the options of `list` to the flags of `sub`.
void AddFlags(CLI::App* sub, ListOptions* opt) {
  sub->add_flag("--users", opt->users, "Only users");
  sub->add_flag("--hosts", opt->hosts, "Only hosts");
  sub->add_flag("--all", opt->all,
                "Also subjects with failures that are not blocked");
}

int RunList(Context* ctx, const ListOptions& opt) {
  Backend* backend = ctx->OpenBackend();
  if (!backend) return kExitStore;
  const int64_t now = ctx->Now();
  std::vector<StoreEntry> entries;
  std::string err;
  if (!backend->store()->List(now, !opt.all, &entries, &err)) {
    PrintError("store unavailable: " + err);
    return kExitStore;
  }
  // Neither flag means both kinds.
  const bool users = opt.users || !opt.hosts;
  const bool hosts = opt.hosts || !opt.users;
  std::erase_if(entries, [&](const StoreEntry& e) {
    return e.subject.kind == SubjectKind::kUser ? !users : !hosts;
  });

  if (ctx->config().report_only && !entries.empty()) {
    PrintWarning(
        "report mode (lockout.mode = \"report\"): these blocks are recorded "
        "but refuse nothing (would block)");
  }
  if (ctx->json()) {
    Json out = Json::array();
    for (const StoreEntry& e : entries) {
      out.push_back(StateJson(e.subject, e.state, now));
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
  Table table({"KIND", "SUBJECT", "FAILURES", "UNTIL", "LEFT"});
  for (const StoreEntry& e : entries) {
    const SubjectState& s = e.state;
    table.Add({KindName(e.subject.kind), e.subject.name,
               std::to_string(s.failures),
               s.blocked && !s.permanent() ? LocalTime(s.until) : "",
               LeftText(s, now)});
  }
  PrintOut(table.Render());
  return kExitOk;
}

}  // namespace

Runner DefineList(CLI::App* sub) { return BindOptions(sub, AddFlags, RunList); }

}  // namespace defender::ctl
