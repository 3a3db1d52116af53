// defenderctl firewall sync | list | flush | watch | add | del
// (doc/DESIGN.md §15)
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <memory>
#include <optional>

#include "common/error.h"
#include "common/store_dir.h"
#include "defenderctl/cli_clock.h"
#include "defenderctl/command.h"
#include "defenderctl/context.h"
#include "defenderctl/firewall_needed.h"
#include "defenderctl/firewall_sync.h"
#include "defenderctl/firewall_watch.h"
#include "defenderctl/output.h"
#include "defenderctl/subjects.h"

namespace defender::ctl {
namespace {

struct FirewallOptions {
  CLI::App* sync = nullptr;
  CLI::App* list = nullptr;
  CLI::App* flush = nullptr;
  CLI::App* watch = nullptr;
  CLI::App* add = nullptr;
  CLI::App* del = nullptr;
  std::optional<std::string> host;
};

Json ElementJson(const FirewallElement& e) {
  Json o;
  o["family"] = e.v6 ? "ipv6" : "ipv4";
  o["element"] = e.addr;
  o["timeout_seconds"] = e.timeout ? Json(e.timeout) : Json(nullptr);
  o["permanent"] = e.timeout == 0;
  return o;
}

Json ChangesJson(const SyncChanges& c) {
  Json o;
  o["created_table"] = c.created;
  for (const char* k : {"added", "updated", "removed"}) o[k] = Json::array();
  for (const auto& e : c.added) o["added"].push_back(ElementJson(e));
  for (const auto& e : c.updated) o["updated"].push_back(ElementJson(e));
  for (const auto& e : c.removed) o["removed"].push_back(ElementJson(e));
  o["refused"] = Json::array();
  for (const auto& [subject, why] : c.refused) {
    o["refused"].push_back({{"subject", subject}, {"reason", why}});
  }
  o["over_cap"] = c.over_cap;
  o["off"] = c.off.empty() ? Json() : Json(c.off);
  return o;
}

// The commands that change the firewall need firewall.enabled.
bool CheckEnabled(const Context& ctx) {
  if (ctx.config().firewall_enabled) return true;
  PrintError("the firewall is not enabled (" + ctx.config().source +
             ": [firewall] enabled = false)");
  return false;
}

int RunList(Context* ctx, Firewall* fw) {
  std::vector<FirewallElement> elements;
  bool exists = false;
  std::string err;
  if (!fw->List(&elements, &exists, &err)) {
    PrintError("nftables: " + err);
    return kExitStore;
  }
  Json out = Json::array();
  Table t({"FAMILY", "ELEMENT", "TIMEOUT"});
  for (const FirewallElement& e : elements) {
    out.push_back(ElementJson(e));
    t.Add({e.v6 ? "ipv6" : "ipv4", e.addr,
           e.timeout ? std::to_string(e.timeout) + "s" : "permanent"});
  }
  const std::string table = "table inet " + fw->settings().table;
  PrintResult(*ctx, out,
              !exists            ? "no " + table + "\n"
              : elements.empty() ? table + ": no elements\n"
                                 : t.Render());
  return kExitOk;
}

int RunFlush(Context* ctx, Firewall* fw) {
  bool existed = false;
  std::string err;
  if (!fw->Remove(&existed, &err)) {
    PrintError("nftables: " + err);
    return kExitStore;
  }
  const std::string table = "table inet " + fw->settings().table;
  PrintResult(*ctx, Json{{"removed_table", existed}},
              (existed ? "removed " : "no ") + table + "\n");
  return kExitOk;
}

int RunFirewall(Context* ctx, const FirewallOptions& opt) {
  Firewall fw(FirewallSettings::FromConfig(ctx->config()));
  if (opt.list->parsed()) return RunList(ctx, &fw);
  if (opt.flush->parsed()) return RunFlush(ctx, &fw);
  if (!CheckEnabled(*ctx)) return kExitUsage;
  // add/del: --host, or the hook environment of the module's event.
  std::string subject;
  if (opt.add->parsed() || opt.del->parsed()) {
    std::string raw;
    if (opt.host) {
      raw = *opt.host;
    } else {
      const char* kind = std::getenv("DEFENDER_KIND");
      const char* name = std::getenv("DEFENDER_SUBJECT");
      if (!kind || !name) {
        PrintError(
            "firewall add/del: --host, or DEFENDER_KIND and "
            "DEFENDER_SUBJECT as a hook sets them");
        return kExitUsage;
      }
      if (std::string_view(kind) != "host") return kExitOk;  // A user.
      raw = name;
    }
    std::vector<Subject> subjects;
    std::string err;
    // Addresses only (the firewall drops no name): read as typed.
    if (!SubjectsFromArgs(ctx->config(), std::nullopt, NameForm::kTyped, raw,
                          &subjects, &err)) {
      PrintError(err);
      return kExitUsage;
    }
    subject = subjects[0].name;
  }
  Backend* backend = ctx->OpenBackend();
  if (!backend) return kExitStore;
  const FirewallGuard guard(ctx->config(), LocalAddresses(),
                            FirewallAllowsLocalForTests(),
                            NeededAddresses(ctx->config()));
  // The lock that serializes this machine's syncs of the table.
  Error dir_err;
  const int dir_fd = OpenStateDir(kFirewallLockDir, &dir_err);
  if (dir_fd < 0) {
    PrintError(dir_err.message);
    return kExitStore;
  }
  const struct CloseDir {
    int fd;
    ~CloseDir() { close(fd); }
  } close_dir{dir_fd};
  SyncTarget target{&fw, backend->store(), &guard,
                    ctx->config().firewall_max_elements};
  target.lock_dir_fd = dir_fd;
  target.lock_file = FirewallLockFile(ctx->config().firewall_table);
  if (opt.watch->parsed()) return WatchFirewall(ctx, target);
  SyncChanges c;
  std::string err;
  bool ok = true;
  if (opt.sync->parsed()) {
    ok = SyncAll(target, ctx->Now(), &c, &err);
  } else {
    // Both re-read the subject: an event is only a hint.
    size_t present = 0;
    ok = fw.Ensure(&c.created, &err) &&
         SyncOne(target, subject, ctx->Now(), &present, &c, &err);
  }
  if (!ok) {
    PrintError(err);
    return kExitStore;
  }
  const std::string text = DescribeChanges(c);
  PrintResult(*ctx, ChangesJson(c), text.empty() ? "no change\n" : text);
  return kExitOk;
}

void AddFlags(CLI::App* sub, FirewallOptions* opt) {
  sub->require_subcommand(1);
  opt->sync = sub->add_subcommand(
      "sync", "Make the table match the store's blocked hosts; print changes");
  opt->list = sub->add_subcommand("list", "List the elements of the table");
  opt->flush = sub->add_subcommand(
      "flush", "Remove the table (nothing else is touched)");
  opt->watch =
      sub->add_subcommand("watch",
                          "Follow blocks and unblocks until stopped (for "
                          "defender-firewall.service)");
  opt->add = sub->add_subcommand(
      "add",
      "Re-read one host (--host, or the hook environment) and add it "
      "if it is blocked");
  opt->del = sub->add_subcommand(
      "del", "Re-read one host and remove it unless it is blocked");
  for (CLI::App* s : {opt->add, opt->del}) {
    s->add_option("--host", opt->host,
                  "The host (normalised as the module "
                  "does)")
        ->type_name("H");
  }
  for (CLI::App* s :
       {opt->sync, opt->list, opt->flush, opt->watch, opt->add, opt->del}) {
    s->fallthrough();
  }
}

}  // namespace

Runner DefineFirewall(CLI::App* sub) {
  return BindOptions(sub, AddFlags, RunFirewall);
}

}  // namespace defender::ctl
