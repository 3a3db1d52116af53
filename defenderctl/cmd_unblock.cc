// defenderctl unblock (--user U | --host H | --user U --host H | --all)
//
// --user and --host together name the pair U@H (doc/DESIGN.md §3.14), not
// the user and the host: unblocking alice at her remembered host must not
// lift the block an attacker elsewhere earned her.
#include <CLI/CLI.hpp>
#include <memory>
#include <optional>

#include "common/normalize.h"
#include "common/remember.h"
#include "defenderctl/announce.h"
#include "defenderctl/command.h"
#include "defenderctl/context.h"
#include "defenderctl/output.h"
#include "defenderctl/subjects.h"

namespace defender::ctl {
namespace {

struct UnblockOptions {
  std::optional<std::string> user;
  std::optional<std::string> host;
  bool all = false;
  NameFormFlags name_form;
};

// Binds the options of `unblock` to the flags of `sub`.
void AddFlags(CLI::App* sub, UnblockOptions* opt) {
  CLI::Option* user =
      sub->add_option("--user", opt->user, "Unblock this user")->type_name("U");
  CLI::Option* host =
      sub->add_option("--host", opt->host,
                      "Unblock this host (normalised as the module does); "
                      "with --user, the pair user@host")
          ->type_name("H");
  CLI::Option* all =
      sub->add_flag("--all", opt->all, "Unblock every blocked subject");
  all->excludes(user)->excludes(host);
  AddNameFormFlags(sub, &opt->name_form);
  all->excludes("--typed")->excludes("--shown");
  sub->callback([opt]() {
    if (!opt->user && !opt->host && !opt->all) {
      throw CLI::RequiredError("unblock: --user, --host or --all");
    }
  });
}

Json Result(const Subject& s, bool was_blocked, int64_t failures) {
  Json o;
  o["kind"] = KindName(s.kind);
  o["subject"] = s.name;
  o["was_blocked"] = was_blocked;
  o["failures_cleared"] = failures;
  return o;
}

int UnblockAll(Context* ctx, Store* store) {
  std::vector<Subject> cleared;
  std::string err;
  // A store that fails part of the way (a record whose lock did not come,
  // a Redis batch that failed) has unblocked those in `cleared` all the
  // same: they are announced and reported before the error.
  const bool ok = store->UnblockAll(ctx->Now(), &cleared, &err);
  if (!ok && cleared.empty()) {
    PrintError("store unavailable: " + err);
    return kExitStore;
  }
  Json out = Json::array();
  std::string text;
  for (const Subject& s : cleared) {
    Announce(ctx->config(), Event{Event::Type::kUnblock, s, 0, 0});
    // UnblockAll does not report counters: a blocked subject's counter is
    // frozen, and the store has already dropped it.
    Json r = Result(s, true, 0);
    r.erase("failures_cleared");
    out.push_back(r);
    text += "unblocked " + Describe(s) + "\n";
  }
  PrintResult(*ctx, out, cleared.empty() ? "no blocked subjects\n" : text);
  if (!ok) {
    PrintError("store unavailable: " + err);
    return kExitStore;
  }
  return kExitOk;
}

// doc/DESIGN.md §12: after `unblock --user U` alone, warns on stderr when
// the host of U's last logged attempt is still blocked (it keeps refusing
// U from there), naming the command that unblocks it. Silent when there is
// no such attempt or it cannot be read: the unblock itself succeeded.
void HintBlockedHost(Context* ctx, Backend* backend, const Subject& user) {
  bool off = false;
  AttemptArchive* archive = ctx->OpenArchive(&off, Context::ArchiveUse::kHint);
  if (archive == nullptr) return;
  SqliteAttemptLog* log = archive->log();
  AttemptFilter filter;
  filter.user = user.name;
  filter.limit = 1;
  std::vector<Attempt> last;
  std::string err;
  if (!log->Query(filter, &last, &err) || last.empty() ||
      last[0].host.empty()) {
    return;
  }
  const Subject host{SubjectKind::kHost, last[0].host};
  std::vector<SubjectState> state;
  if (!backend->store()->Get({&host, 1}, ctx->Now(), &state, &err) ||
      !state[0].blocked) {
    return;
  }
  const std::string warning = Describe(host) + " (the last login of " +
                              Describe(user) +
                              " came from there) is still blocked and "
                              "refuses it";
  // The host as shown; with an escape ("evil%1B.example", "a%20b") it
  // reads two ways, and the command says --shown.
  const std::string shown = DisplayName(host.name);
  for (const NameForm form : {NameForm::kEither, NameForm::kShown}) {
    std::string named;
    if (ResolveHost(ctx->config(), shown, form, &named, &err) &&
        named == host.name) {
      PrintWarning(warning + ": run `defenderctl unblock " +
                   (form == NameForm::kShown ? "--shown " : "") + "--host " +
                   ShellWord(shown) + "`");
      return;
    }
  }
  PrintWarning(warning +
               "; its name reads back as no host, so unblock it with "
               "`defenderctl unblock --all`");
}

int RunUnblock(Context* ctx, const UnblockOptions& opt) {
  std::vector<Subject> subjects;
  std::string err;
  if (!SubjectsFromArgs(ctx->config(), opt.user, opt.name_form.form(), opt.host,
                        &subjects, &err)) {
    PrintError(err);
    return kExitUsage;
  }
  if (subjects.size() == 2) {
    subjects = {Subject{SubjectKind::kPair,
                        PairName(subjects[0].name, subjects[1].name)}};
  }
  Backend* backend = ctx->OpenBackend();
  if (!backend) return kExitStore;
  Store* store = backend->store();
  if (opt.all) return UnblockAll(ctx, store);

  const int64_t now = ctx->Now();
  Json out = Json::array();
  std::string text;
  for (const Subject& s : subjects) {
    std::vector<SubjectState> before;
    bool was_blocked = false;
    if (!store->Get({&s, 1}, now, &before, &err) ||
        !store->Unblock(s, now, &was_blocked, &err)) {
      PrintError("store unavailable: " + err);
      return kExitStore;
    }
    const int64_t failures = before[0].failures;
    if (was_blocked) {
      Announce(ctx->config(), Event{Event::Type::kUnblock, s, 0, failures});
      text += "unblocked " + Describe(s) + "\n";
    } else if (failures > 0) {
      text += Describe(s) + " was not blocked; cleared " +
              std::to_string(failures) + " failure(s)\n";
    } else {
      text += Describe(s) + " was not blocked\n";
    }
    out.push_back(Result(s, was_blocked, failures));
  }
  if (opt.user && !opt.host) HintBlockedHost(ctx, backend, subjects[0]);
  PrintResult(*ctx, out, text);
  return kExitOk;
}

}  // namespace

Runner DefineUnblock(CLI::App* sub) {
  return BindOptions(sub, AddFlags, RunUnblock);
}

}  // namespace defender::ctl
