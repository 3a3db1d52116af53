#include "bench/stacks.h"

#include <sys/stat.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>
#include <thread>

namespace bench {
namespace {

std::string Line(const std::string& type, const std::string& control,
                 const std::string& module, const std::string& args) {
  return type + "\t" + control + "\t" + module +
         (args.empty() ? "" : " " + args) + "\n";
}

// The lockout stack of pam_faillock(8) and of doc/DESIGN.md §7: preauth,
// the password, authfail, authsucc, deny, and the account check. `step(x)`
// gives the module and arguments of step x.
template <typename StepFn>
std::string LockoutStack(const std::string& password, StepFn step,
                         const std::string& account) {
  return Line("auth", "required", step("preauth"), "") +
         Line("auth", "[success=1 default=bad]", password, "") +
         Line("auth", "[default=die]", step("authfail"), "") +
         Line("auth", "sufficient", step("authsucc"), "") +
         Line("auth", "required", "pam_deny.so", "") +
         Line("account", "required", account, "");
}

}  // namespace

bool WriteFile(const std::string& path, const std::string& text,
               std::string* err) {
  std::ofstream f(path, std::ios::trunc);
  f << text;
  f.close();
  if (!f) {
    *err = path + ": cannot write";
    return false;
  }
  chmod(path.c_str(), 0600);
  return true;
}

void WaitForSettledConfigs(const std::vector<Stack>& stacks) {
  for (const Stack& s : stacks) {
    struct stat st;
    if (s.config.empty() || stat(s.config.c_str(), &st) != 0) continue;
    while (time(nullptr) <= st.st_ctim.tv_sec + 1) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
}

bool MakeDirs(const std::string& path, std::string* err) {
  for (size_t pos = 1; pos != std::string::npos;) {
    pos = path.find('/', pos + 1);
    const std::string part = path.substr(0, pos);
    if (mkdir(part.c_str(), 0700) != 0 && errno != EEXIST) {
      *err = part + ": " + strerror(errno);
      return false;
    }
  }
  return true;
}

bool WriteStack(const StackEnv& env, const StackOptions& opts,
                const std::string& dir, const std::string& name, StackKind kind,
                Stack* out, std::string* err) {
  const std::string confdir = dir + "/pam.d";
  if (!MakeDirs(confdir, err)) return false;
  *out = Stack{name, kind, name, confdir, "", ""};
  const std::string password = env.matrix_module + " passdb=" + env.passdb;
  std::string service;
  std::string steps[3] = {"preauth", "authfail", "authsucc"};
  std::string step_lines[3];

  switch (kind) {
    case StackKind::kBaseline:
      service = Line("auth", "required", password, "") +
                Line("account", "required", "pam_permit.so", "");
      break;
    case StackKind::kFaillock: {
      out->state = dir + "/" + name + "-tally";
      if (!MakeDirs(out->state, err)) return false;
      // pam_faillock blocks at the deny-th failure; pam_defender at the
      // failure above its limit. nodelay: without it authfail asks libpam
      // for a 2 s delay on failure (pam_fail_delay), which pam_defender
      // leaves to the password module.
      const std::string args =
          "nodelay dir=" + out->state +
          " deny=" + std::to_string(opts.failure_limit + 1) +
          " unlock_time=" + std::to_string(opts.lockout_seconds);
      auto step = [&](const std::string& s) {
        return "pam_faillock.so " + s + " " + args;
      };
      service =
          LockoutStack(password, step, "pam_faillock.so dir=" + out->state);
      for (int i = 0; i < 3; ++i) step_lines[i] = step(steps[i]);
      break;
    }
    case StackKind::kDefenderLocal:
    case StackKind::kDefenderRedis: {
      // Each stack its own store directory, the attempt log in it.
      out->state = dir + "/" + name + "/attempts.db";
      out->config = dir + "/" + name + ".toml";
      const bool redis = kind == StackKind::kDefenderRedis;
      std::string toml =
          "[lockout]\nfailure_limit = " + std::to_string(opts.failure_limit) +
          "\ncooloff_time = " + std::to_string(opts.lockout_seconds) +
          "\n\n[store]\nbackend = \"" + (redis ? "redis" : "local") +
          "\"\ndir = \"" + dir + "/" + name + "\"\nkey_prefix = \"" +
          (opts.key_prefix.empty() ? name : opts.key_prefix) + "\"\n";
      if (opts.remember_days >= 0) {
        // [lockout] is the first section: put the key there.
        toml.insert(toml.find('\n') + 1,
                    "remember_hosts_days = " +
                        std::to_string(opts.remember_days) + "\n");
      }
      if (redis) {
        toml += "\n[redis]\nurl = \"redis://127.0.0.1:" +
                std::to_string(env.redis_port) +
                "/0\"\non_error = \"closed\"\n";
      }
      if (!WriteFile(out->config, toml, err)) return false;
      auto step = [&](const std::string& s) {
        return env.defender_module + " " + s + " conf=" + out->config;
      };
      service = LockoutStack(password, step,
                             env.defender_module + " conf=" + out->config);
      for (int i = 0; i < 3; ++i) step_lines[i] = step(steps[i]);
      break;
    }
  }
  if (!WriteFile(confdir + "/" + name, service, err)) return false;
  if (!step_lines[0].empty() &&
      !WriteFile(confdir + "/" + name + "-loadonly",
                 Line("auth", "[success=done default=die]", password, "") +
                     Line("auth", "required", step_lines[0], "") +
                     Line("account", "required", "pam_permit.so", ""),
                 err)) {
    return false;
  }
  for (int i = 0; i < 3; ++i) {
    if (step_lines[i].empty()) continue;
    if (!WriteFile(confdir + "/" + name + "-" + steps[i],
                   Line("auth", "required", step_lines[i], ""), err)) {
      return false;
    }
  }
  return true;
}

}  // namespace bench
