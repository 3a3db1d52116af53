// defenderctl config check | config show
//
// The configuration is loaded (and so validated) before any command runs;
// `check` reports the result, `show` prints the effective values with
// derived defaults written out and the Redis password redacted.
#include <unistd.h>

#include <CLI/CLI.hpp>

#include "common/redis_url.h"
#include "defenderctl/command.h"
#include "defenderctl/context.h"
#include "defenderctl/output.h"

namespace defender::ctl {
namespace {

Json ConfigJson(const Config& c) {
  Json cidrs[2] = {Json::array(), Json::array()};
  for (const Cidr& n : c.allow_hosts) cidrs[0].push_back(n.ToString());
  for (const Cidr& n : c.deny_hosts) cidrs[1].push_back(n.ToString());
  Json o;
  o["source"] = c.source;
  o["lockout"] = {
      {"failure_limit", c.failure_limit},
      {"failure_limit_user", c.FailureLimitUser()},
      {"failure_limit_host", c.FailureLimitHost()},
      {"by_user_and_host", c.by_user_and_host},
      {"disable_user_lockout", c.disable_user_lockout},
      {"disable_host_lockout", c.disable_host_lockout},
      {"cooloff_time", c.cooloff_time},
      {"attempt_cooloff_time", c.AttemptCooloff()},
      {"lockout_cooloff_time", c.LockoutCooloffs()},
      {"even_deny_root", c.even_deny_root},
      {"remember_hosts_days", c.remember_hosts_days},
      {"failure_limit_pair", c.FailureLimitPair()},
      {"fold_username_case", c.fold_username_case},
      {"ipv6_prefix", c.ipv6_prefix},
      {"allow_users", c.allow_users},
      {"allow_hosts", cidrs[0]},
      {"deny_hosts", cidrs[1]},
      {"lockout_message", c.lockout_message},
      {"permanent_lockout_message", c.permanent_lockout_message},
      {"host_lockout_message", c.host_lockout_message},
      {"mode", c.report_only ? "report" : "enforce"},
  };
  o["store"] = {
      {"backend", BackendName(c.backend)},
      {"dir", c.dir},
      {"key_prefix", c.key_prefix},
  };
  o["redis"] = {
      {"url", RedactUrl(c.redis_url)},
      {"password_file", c.redis_password_file},
      {"sentinels", c.redis_sentinels},
      {"sentinel_master", c.redis_sentinel_master},
      {"connect_timeout_ms", c.redis_connect_timeout_ms},
      {"command_timeout_ms", c.redis_command_timeout_ms},
      {"on_error", OnErrorName(c.redis_on_error)},
  };
  o["attempts"] = {
      {"store", c.attempts_store},
      {"expiration_hours", c.attempts_expiration_hours},
      {"max_rows", c.attempts_max_rows},
  };
  o["hooks"] = {
      {"on_block", c.on_block},
      {"on_unblock", c.on_unblock},
      {"timeout_seconds", c.hooks_timeout_seconds},
  };
  o["firewall"] = {
      {"enabled", c.firewall_enabled},
      {"ports", c.firewall_ports},
      {"action", c.firewall_reject ? "reject" : "drop"},
      {"table", c.firewall_table},
      {"resync_seconds", c.firewall_resync_seconds},
      {"max_elements", c.firewall_max_elements},
  };
  return o;
}

// Problems the parser cannot see: a hook that is not an executable file.
std::vector<std::string> Warnings(const Config& c) {
  std::vector<std::string> out;
  for (const auto* hook : {&c.on_block, &c.on_unblock}) {
    if (!hook->empty() && access(hook->front().c_str(), X_OK) != 0) {
      out.push_back(
          "hooks." +
          std::string(hook == &c.on_block ? "on_block" : "on_unblock") + ": " +
          hook->front() + " is not an executable file");
    }
  }
  return out;
}

int RunConfigCheck(Context* ctx) {
  const Config& c = ctx->config();
  const std::vector<std::string> warnings = Warnings(c);
  for (const std::string& w : warnings) PrintWarning(w);
  if (ctx->json()) {
    Json out;
    out["source"] = c.source;
    out["valid"] = true;
    out["warnings"] = warnings;
    PrintJson(out);
  } else {
    PrintOut(c.source + ": configuration OK\n");
  }
  return kExitOk;
}

int RunConfigShow(Context* ctx) {
  if (ctx->json()) {
    PrintJson(ConfigJson(ctx->config()));
  } else {
    PrintOut(DumpConfig(ctx->config()));
  }
  return kExitOk;
}

}  // namespace

Runner DefineConfig(CLI::App* sub) {
  CLI::App* check = sub->add_subcommand(
      "check", "Validate the configuration file (exit 2 on error)");
  CLI::App* show = sub->add_subcommand(
      "show", "Print the effective configuration (TOML, or --json)");
  check->fallthrough();
  show->fallthrough();
  sub->require_subcommand(1);
  return [check](Context* ctx) {
    return check->parsed() ? RunConfigCheck(ctx) : RunConfigShow(ctx);
  };
}

}  // namespace defender::ctl
