// defenderctl block (--user U | --host H) [--for DUR | --permanent]
#include <CLI/CLI.hpp>
#include <memory>
#include <optional>

#include "common/format.h"
#include "common/normalize.h"
#include "defenderctl/announce.h"
#include "defenderctl/command.h"
#include "defenderctl/context.h"
#include "defenderctl/output.h"
#include "defenderctl/subjects.h"

namespace defender::ctl {
namespace {

struct BlockOptions {
  std::optional<std::string> user;
  std::optional<std::string> host;
  std::optional<std::string> duration;
  bool permanent = false;
  NameFormFlags name_form;
};

// Binds the options of `block` to the flags of `sub`.
void AddFlags(CLI::App* sub, BlockOptions* opt) {
  sub->add_option("--user", opt->user, "Block this user")->type_name("U");
  AddNameFormFlags(sub, &opt->name_form);
  sub->add_option("--host", opt->host,
                  "Block this host (normalised as the module does)")
      ->type_name("H");
  CLI::Option* duration = sub->add_option("--for", opt->duration,
                                          "Block for DUR (default: the first "
                                          "lockout_cooloff_time)")
                              ->type_name("DUR");
  CLI::Option* permanent = sub->add_flag("--permanent", opt->permanent,
                                         "Block until unblocked by hand");
  permanent->excludes(duration);
  sub->callback([opt]() {
    if (!opt->user && !opt->host) {
      throw CLI::RequiredError("block: --user or --host");
    }
    // For unblock and check, both name the pair U@H; a pair is blocked only
    // by failures from one of U's remembered hosts (a pair block by hand
    // would refuse nothing elsewhere), so block takes one or the other.
    if (opt->user && opt->host) {
      throw CLI::ValidationError("block: --user or --host, not both");
    }
  });
}

int RunBlock(Context* ctx, const BlockOptions& opt) {
  const Config& cfg = ctx->config();
  std::vector<Subject> subjects;
  std::string err;
  if (!SubjectsFromArgs(cfg, opt.user, opt.name_form.form(), opt.host,
                        &subjects, &err)) {
    PrintError(err);
    return kExitUsage;
  }
  // Without --for: the length of a first automatic block.
  int64_t length = cfg.LockoutCooloffs().front();
  if (opt.permanent) {
    length = 0;
  } else if (opt.duration) {
    const std::optional<int64_t> d = ParseDuration(*opt.duration);
    if (!d || *d == 0) {
      PrintError("--for: invalid duration \"" + EscapeText(*opt.duration, 40) +
                 "\" (use 90s, 15m, 2h, 1d or seconds; --permanent for no "
                 "end)");
      return kExitUsage;
    }
    if (*d > kMaxDurationSeconds) {
      PrintError("--for: \"" + EscapeText(*opt.duration, 40) +
                 "\" is longer than ten years (use --permanent for no end)");
      return kExitUsage;
    }
    length = *d;
  }
  Backend* backend = ctx->OpenBackend();
  if (!backend) return kExitStore;
  Store* store = backend->store();
  const int64_t now = ctx->Now();
  const int64_t until = length == 0 ? 0 : now + length;

  Json out = Json::array();
  std::string text;
  for (const Subject& s : subjects) {
    const std::string exempt = ExemptionOf(cfg, s);
    if (!exempt.empty()) {
      PrintWarning(Describe(s) + " is exempt: " + exempt +
                   "; the block has no effect on logins");
    }
    std::vector<SubjectState> state;
    if (!store->Block(s, until, now, &err) ||
        !store->Get({&s, 1}, now, &state, &err)) {
      PrintError("store unavailable: " + err);
      return kExitStore;
    }
    Announce(cfg, Event{Event::Type::kBlock, s, until, state[0].failures});
    out.push_back(StateJson(s, state[0], now));
    text += "blocked " + Describe(s) +
            (until == 0 ? " permanently"
                        : " until " + LocalTime(until) + " (" +
                              FormatDuration(length) + ")") +
            "\n";
  }
  PrintResult(*ctx, out, text);
  return kExitOk;
}

}  // namespace

Runner DefineBlock(CLI::App* sub) {
  return BindOptions(sub, AddFlags, RunBlock);
}

}  // namespace defender::ctl
