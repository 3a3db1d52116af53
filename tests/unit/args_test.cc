// The module's arguments (pam_defender/args.h; doc/DESIGN.md §6): every
// word ParseModuleArgs knows, every error it reports, and the layering of
// KEY=VALUE overrides over the config file that the module performs.
#include "pam_defender/args.h"

#include <doctest/doctest.h>
#include <sys/stat.h>

#include <fstream>
#include <string>
#include <vector>

#include "common/config.h"
#include "tests/support/files.h"

namespace defender {
namespace {

struct Parsed {
  bool ok = false;
  ModuleArgs args;
  std::string err;
};

Parsed Parse(std::vector<const char*> argv, bool account = false) {
  Parsed p;
  p.err = "(untouched)";
  p.ok = ParseModuleArgs(static_cast<int>(argv.size()), argv.data(), account,
                         &p.args, &p.err);
  return p;
}

TEST_CASE("module arguments: no arguments give the defaults") {
  const Parsed auth = Parse({});
  REQUIRE(auth.ok);
  CHECK(auth.err == "(untouched)");
  CHECK(auth.args.mode == Mode::kPreauth);
  CHECK(auth.args.conf.empty());
  CHECK_FALSE(auth.args.silent);
  CHECK_FALSE(auth.args.debug);
  CHECK_FALSE(auth.args.fail_closed);
  CHECK_FALSE(auth.args.enforce);
  CHECK(auth.args.overrides.empty());

  const Parsed account = Parse({}, /*account=*/true);
  REQUIRE(account.ok);
  CHECK(account.args.mode == Mode::kAccount);
}

TEST_CASE("module arguments: the three auth modes") {
  CHECK(Parse({"preauth"}).args.mode == Mode::kPreauth);
  CHECK(Parse({"authfail"}).args.mode == Mode::kAuthFail);
  CHECK(Parse({"authsucc"}).args.mode == Mode::kAuthSucc);
  for (const char* mode : {"preauth", "authfail", "authsucc"}) {
    CAPTURE(mode);
    CHECK(Parse({mode}).ok);
  }
}

TEST_CASE("module arguments: two modes are accepted and the last one wins") {
  const Parsed p = Parse({"authfail", "authsucc"});
  REQUIRE(p.ok);
  CHECK(p.err == "(untouched)");
  CHECK(p.args.mode == Mode::kAuthSucc);
  CHECK(Parse({"authsucc", "preauth"}).args.mode == Mode::kPreauth);
}

TEST_CASE("module arguments: the flags, in both entry points") {
  for (const bool account : {false, true}) {
    CAPTURE(account);
    const Parsed p =
        Parse({"silent", "debug", "fail_closed", "enforce"}, account);
    REQUIRE(p.ok);
    CHECK(p.args.silent);
    CHECK(p.args.debug);
    CHECK(p.args.fail_closed);
    CHECK(p.args.enforce);
    CHECK(p.args.mode == (account ? Mode::kAccount : Mode::kPreauth));
  }
  // Each flag sets only itself.
  const Parsed silent = Parse({"silent"});
  CHECK(silent.args.silent);
  CHECK_FALSE(silent.args.debug);
  CHECK_FALSE(silent.args.fail_closed);
  CHECK_FALSE(silent.args.enforce);
  const Parsed enforce = Parse({"enforce"}, /*account=*/true);
  CHECK(enforce.args.enforce);
  CHECK_FALSE(enforce.args.silent);
  CHECK_FALSE(enforce.args.debug);
  CHECK_FALSE(enforce.args.fail_closed);
}

TEST_CASE("module arguments: a mode word in the account stack is unknown") {
  for (const char* mode : {"preauth", "authfail", "authsucc"}) {
    CAPTURE(mode);
    const Parsed p = Parse({"enforce", mode}, /*account=*/true);
    CHECK_FALSE(p.ok);
    CHECK(p.err == std::string("unknown module argument \"") + mode + "\"");
    CHECK(p.args.mode == Mode::kAccount);
    CHECK(p.args.enforce);
  }
}

TEST_CASE("module arguments: conf= takes an absolute path") {
  const Parsed p = Parse({"conf=/etc/security/other.toml"});
  REQUIRE(p.ok);
  CHECK(p.args.conf == "/etc/security/other.toml");
  CHECK(p.args.overrides.empty());

  const Parsed empty = Parse({"conf="});
  CHECK_FALSE(empty.ok);
  CHECK(empty.err == "module argument \"conf=\": conf= needs an absolute path");
  const Parsed relative = Parse({"conf=defender.toml"});
  CHECK_FALSE(relative.ok);
  CHECK(relative.err ==
        "module argument \"conf=defender.toml\": conf= needs an absolute "
        "path");
  // The last conf= is the one kept.
  CHECK(Parse({"conf=/a.toml", "conf=/b.toml"}).args.conf == "/b.toml");
}

TEST_CASE("module arguments: unknown words") {
  const Parsed p = Parse({"preauht"});
  CHECK_FALSE(p.ok);
  CHECK(p.err == "unknown module argument \"preauht\"");
  // Case matters; an empty word is not a flag.
  CHECK(Parse({"Silent"}).err == "unknown module argument \"Silent\"");
  CHECK(Parse({""}).err == "unknown module argument \"\"");
  // A null argv entry is skipped.
  CHECK(Parse({nullptr, "debug"}).ok);
  // Control bytes and '%' are escaped, and the word is cut at 120 bytes.
  CHECK(Parse({"bad\x1b[2J%"}).err ==
        "unknown module argument \"bad%1B[2J%25\"");
  const std::string long_word(300, 'x');
  CHECK(Parse({long_word.c_str()}).err ==
        "unknown module argument \"" + std::string(120, 'x') + "\"");
}

TEST_CASE("module arguments: every argument is read after an error") {
  // The caller's failure policy needs the real mode and fail_closed.
  const Parsed p = Parse({"bogus", "authfail", "conf=", "fail_closed", "silent",
                          "failure_limit=5"});
  CHECK_FALSE(p.ok);
  CHECK(p.err == "unknown module argument \"bogus\"");  // The first error.
  CHECK(p.args.mode == Mode::kAuthFail);
  CHECK(p.args.fail_closed);
  CHECK(p.args.silent);
  CHECK(p.args.overrides == std::vector<std::string>{"failure_limit=5"});
}

TEST_CASE("module arguments: an earlier parse leaves nothing behind") {
  ModuleArgs args;
  std::string err;
  const char* first[] = {"authfail", "silent", "conf=/x.toml", "a=b"};
  REQUIRE(ParseModuleArgs(4, first, false, &args, &err));
  REQUIRE(ParseModuleArgs(0, nullptr, false, &args, &err));
  CHECK(args.mode == Mode::kPreauth);
  CHECK_FALSE(args.silent);
  CHECK(args.conf.empty());
  CHECK(args.overrides.empty());
}

TEST_CASE("module arguments: KEY=VALUE words are collected in order") {
  // Checking them is ApplyOverride's job, after the config file is read:
  // ParseModuleArgs accepts any word with a '='.
  const Parsed p = Parse({"failure_limit=5", "debug", "=5",
                          "nokey=", "backend=redis", "lockout.ipv6_prefix=56"});
  REQUIRE(p.ok);
  CHECK(p.args.debug);
  CHECK(p.args.overrides == std::vector<std::string>{"failure_limit=5", "=5",
                                                     "nokey=", "backend=redis",
                                                     "lockout.ipv6_prefix=56"});
}

// What the module does with the words ParseModuleArgs collected
// (module.cc: LoadConfigFile, then ApplyOverride for each in order).
bool LoadAndOverride(const std::string& conf,
                     const std::vector<std::string>& overrides, Config* cfg,
                     std::string* err) {
  if (!LoadConfigFile(conf, /*missing_ok=*/false, cfg, err)) return false;
  for (const std::string& o : overrides) {
    if (!ApplyOverride(o, cfg, err)) return false;
  }
  return true;
}

TEST_CASE("module arguments: overrides are applied over the config file") {
  testing::TempDir dir;
  const std::string conf = dir.path() + "/defender.toml";
  std::ofstream(conf) << "[lockout]\n"
                         "failure_limit = 7\n"
                         "failure_limit_host = 20\n"
                         "even_deny_root = true\n"
                         "ipv6_prefix = 48\n"
                         "lockout_message = \"from the file\"\n";
  REQUIRE(chmod(conf.c_str(), 0644) == 0);

  const std::string conf_arg = "conf=" + conf;
  const Parsed p = Parse({"authfail", conf_arg.c_str(), "failure_limit=2",
                          "lockout.even_deny_root=false", "ipv6_prefix=56",
                          "ipv6_prefix=128"});
  REQUIRE(p.ok);
  CHECK(p.args.conf == conf);

  Config cfg;
  std::string err;
  REQUIRE_MESSAGE(LoadAndOverride(p.args.conf, p.args.overrides, &cfg, &err),
                  err);
  CHECK(cfg.failure_limit == 2);        // Argument over file.
  CHECK(cfg.FailureLimitUser() == 2);   // Derived from the final value.
  CHECK(cfg.FailureLimitHost() == 20);  // Set in the file, not overridden.
  CHECK_FALSE(cfg.even_deny_root);
  CHECK(cfg.ipv6_prefix == 128);  // The last of two overrides wins.
  CHECK(cfg.lockout_message == "from the file");

  // A bad override is an error naming it, whatever the file says.
  const char* bad[] = {"failure_limit=-1", "=5",
                       "nokey=",           "backend=redis",
                       "allow_users=bob",  "even_deny_root=maybe"};
  const std::string expected[] = {
      "module argument \"failure_limit=-1\": lockout.failure_limit: "
      "value -1 out of range (0-1000000)",
      "module argument \"=5\": unknown argument (KEY=VALUE takes a scalar "
      "key of [lockout])",
      "module argument \"nokey=\": unknown argument (KEY=VALUE takes a "
      "scalar key of [lockout])",
      "module argument \"backend=redis\": unknown argument (KEY=VALUE takes "
      "a scalar key of [lockout])",
      "module argument \"allow_users=bob\": unknown argument (KEY=VALUE "
      "takes a scalar key of [lockout])",
      "module argument \"even_deny_root=maybe\": lockout.even_deny_root: "
      "expected true or false",
  };
  for (size_t i = 0; i < std::size(bad); ++i) {
    CAPTURE(bad[i]);
    const Parsed q = Parse({conf_arg.c_str(), bad[i]});
    REQUIRE(q.ok);
    Config c;
    CHECK_FALSE(LoadAndOverride(q.args.conf, q.args.overrides, &c, &err));
    CHECK(err == expected[i]);
  }
}

}  // namespace
}  // namespace defender
