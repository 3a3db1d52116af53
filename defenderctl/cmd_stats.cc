// defenderctl stats [--format text|json|prometheus]
#include <CLI/CLI.hpp>
#include <memory>
#include <optional>

#include "defenderctl/command.h"
#include "defenderctl/context.h"
#include "defenderctl/firewall.h"
#include "defenderctl/output.h"

namespace defender::ctl {
namespace {

struct StatsOptions {
  std::optional<std::string> format;
};

// Binds the options of `stats` to the flags of `sub`.
void AddFlags(CLI::App* sub, StatsOptions* opt) {
  sub->add_option("--format", opt->format,
                  "Output format: text (default), json, or prometheus "
                  "(node_exporter textfile)")
      ->type_name("FORMAT")
      ->check(CLI::IsMember({"text", "json", "prometheus"}));
}

struct Stats {
  StoreStats store;
  std::optional<AttemptCounts> attempts;  // Without a local attempt log: none.
  int64_t window = 0;                     // Seconds the window counts cover.
  // Elements in the firewall's sets by family (IPv4, IPv6), when
  // firewall.enabled and the table could be read.
  std::optional<std::pair<int64_t, int64_t>> firewall;
};

// The firewall's element counts, or nullopt (with a warning unless the
// table is simply missing) when they cannot be read.
std::optional<std::pair<int64_t, int64_t>> FirewallCounts(const Config& cfg) {
  if (!cfg.firewall_enabled) return std::nullopt;
  Firewall fw(FirewallSettings::FromConfig(cfg));
  std::vector<FirewallElement> elements;
  bool exists = false;
  std::string err;
  if (!fw.List(&elements, &exists, &err)) {
    PrintWarning("firewall: " + err);
    return std::nullopt;
  }
  std::pair<int64_t, int64_t> n{0, 0};
  for (const FirewallElement& e : elements) ++(e.v6 ? n.second : n.first);
  return n;
}

Json StatsJson(const Stats& s) {
  Json o;
  o["blocked_users"] = s.store.blocked_users;
  o["blocked_hosts"] = s.store.blocked_hosts;
  o["permanent_blocks"] = s.store.permanent_blocks;
  o["failing_users"] = s.store.failing_users;
  o["failing_hosts"] = s.store.failing_hosts;
  o["failures"] = s.store.failures;
  o["blocks_in_window"] = s.store.blocks_in_window;
  o["window_seconds"] = s.window;
  if (s.attempts) {
    o["attempts"] = {{"failure", s.attempts->failure},
                     {"success", s.attempts->success},
                     {"refused", s.attempts->refused}};
  } else {
    o["attempts"] = nullptr;
  }
  if (s.firewall) {
    o["firewall_elements"] = {{"ipv4", s.firewall->first},
                              {"ipv6", s.firewall->second}};
  }
  return o;
}

std::string StatsText(const Stats& s) {
  const auto n = [](int64_t i) { return std::to_string(i); };
  Table t({"WHAT", "COUNT"});
  t.Add({"blocked users", n(s.store.blocked_users)});
  t.Add({"blocked hosts", n(s.store.blocked_hosts)});
  t.Add({"permanent blocks", n(s.store.permanent_blocks)});
  t.Add({"failing users (not blocked)", n(s.store.failing_users)});
  t.Add({"failing hosts (not blocked)", n(s.store.failing_hosts)});
  t.Add({"live failures", n(s.store.failures)});
  const std::string window = " (last " + n(s.window / 3600) + "h)";
  t.Add({"blocks" + window, n(s.store.blocks_in_window)});
  if (s.attempts) {
    t.Add({"failed attempts" + window, n(s.attempts->failure)});
    t.Add({"successful attempts" + window, n(s.attempts->success)});
    t.Add({"refused attempts" + window, n(s.attempts->refused)});
  }
  if (s.firewall) {
    t.Add({"firewall elements (IPv4)", n(s.firewall->first)});
    t.Add({"firewall elements (IPv6)", n(s.firewall->second)});
  }
  return t.Render();
}

// The node_exporter textfile format: every value is a gauge (window
// counts go down as the window moves).
std::string StatsPrometheus(const Stats& s) {
  std::string o;
  const auto metric = [&](const char* name, const char* help) {
    o += std::string("# HELP ") + name + " " + help + "\n";
    o += std::string("# TYPE ") + name + " gauge\n";
  };
  const auto value = [&](const char* name, const std::string& labels,
                         int64_t v) {
    o += name + (labels.empty() ? "" : "{" + labels + "}") + " " +
         std::to_string(v) + "\n";
  };
  metric("defender_blocked", "Subjects blocked now, by kind.");
  value("defender_blocked", "kind=\"user\"", s.store.blocked_users);
  value("defender_blocked", "kind=\"host\"", s.store.blocked_hosts);
  metric("defender_permanent_blocks",
         "Blocks in force that never end (included in defender_blocked).");
  value("defender_permanent_blocks", "", s.store.permanent_blocks);
  metric("defender_failing",
         "Subjects with live failure counters that are not blocked, by kind.");
  value("defender_failing", "kind=\"user\"", s.store.failing_users);
  value("defender_failing", "kind=\"host\"", s.store.failing_hosts);
  metric("defender_failures", "Sum of the live failure counters.");
  value("defender_failures", "", s.store.failures);
  metric("defender_window_seconds",
         "Length of the window of the *_in_window counts "
         "(attempts.expiration_hours).");
  value("defender_window_seconds", "", s.window);
  metric("defender_blocks_in_window", "Blocks started within the window.");
  value("defender_blocks_in_window", "", s.store.blocks_in_window);
  if (s.attempts) {
    metric("defender_attempts_in_window",
           "Logged login attempts within the window, by result.");
    value("defender_attempts_in_window", "result=\"failure\"",
          s.attempts->failure);
    value("defender_attempts_in_window", "result=\"success\"",
          s.attempts->success);
    value("defender_attempts_in_window", "result=\"refused\"",
          s.attempts->refused);
  }
  if (s.firewall) {
    metric("defender_firewall_elements",
           "Elements in the firewall's sets (hosts dropped), by family.");
    value("defender_firewall_elements", "family=\"ipv4\"", s.firewall->first);
    value("defender_firewall_elements", "family=\"ipv6\"", s.firewall->second);
  }
  return o;
}

int RunStats(Context* ctx, const StatsOptions& opt) {
  const std::string format = opt.format.value_or(ctx->json() ? "json" : "text");
  if (ctx->json() && format != "json") {
    PrintError("--json cannot be combined with --format " + format);
    return kExitUsage;
  }
  Backend* backend = ctx->OpenBackend();
  if (!backend) return kExitStore;
  const int64_t now = ctx->Now();
  Stats s;
  s.window = ctx->config().HistorySeconds();
  std::string err;
  bool ok = backend->store()->Stats(now, s.window, &s.store, &err);
  bool off = false;
  AttemptArchive* archive = ok ? ctx->OpenArchive(&off) : nullptr;
  if (ok && !archive && !off) return kExitStore;
  if (archive) {
    ok = archive->log()->Count(now - s.window, &s.attempts.emplace(), &err);
  }
  if (!ok) {
    PrintError("store unavailable: " + err);
    return kExitStore;
  }
  s.firewall = FirewallCounts(ctx->config());
  if (format == "json") {
    PrintJson(StatsJson(s));
  } else if (format == "prometheus") {
    PrintOut(StatsPrometheus(s));
  } else {
    PrintOut(StatsText(s));
  }
  return kExitOk;
}

}  // namespace

Runner DefineStats(CLI::App* sub) {
  return BindOptions(sub, AddFlags, RunStats);
}

}  // namespace defender::ctl
