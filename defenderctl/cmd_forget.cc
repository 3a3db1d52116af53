// defenderctl forget --user U [--host H]
//
// Drops remembered hosts (doc/DESIGN.md §3.14), e.g. after a compromise of
// the account or of a host: from then on the user's own block refuses
// there again.
#include <CLI/CLI.hpp>
#include <memory>
#include <optional>

#include "common/normalize.h"
#include "defenderctl/command.h"
#include "defenderctl/context.h"
#include "defenderctl/output.h"
#include "defenderctl/subjects.h"

namespace defender::ctl {
namespace {

struct ForgetOptions {
  std::string user;
  std::optional<std::string> host;
  NameFormFlags name_form;
};

// Binds the options of `forget` to the flags of `sub`.
void AddFlags(CLI::App* sub, ForgetOptions* opt) {
  sub->add_option("--user", opt->user, "The user whose hosts to forget")
      ->type_name("U")
      ->required();
  AddNameFormFlags(sub, &opt->name_form);
  sub->add_option("--host", opt->host,
                  "Only this host (normalised as the module does; `local` "
                  "for local logins); default: every host")
      ->type_name("H");
}

int RunForget(Context* ctx, const ForgetOptions& opt) {
  // Normalised as the module does; "local" (the origin of local logins)
  // normalises to itself.
  std::vector<Subject> subjects;
  std::string err;
  if (!SubjectsFromArgs(ctx->config(), opt.user, opt.name_form.form(), opt.host,
                        &subjects, &err)) {
    PrintError(err);
    return kExitUsage;
  }
  std::optional<std::string> host;
  if (subjects.size() == 2) host = subjects[1].name;
  Backend* backend = ctx->OpenBackend();
  if (!backend) return kExitStore;
  int64_t removed = 0;
  if (!backend->store()->Forget(subjects[0].name, host, ctx->Now(), &removed,
                                &err)) {
    PrintError("store unavailable: " + err);
    return kExitStore;
  }
  Json out;
  out["user"] = subjects[0].name;
  out["host"] = host ? Json(*host) : Json(nullptr);
  out["forgotten"] = removed;
  PrintResult(*ctx, out,
              "forgot " + std::to_string(removed) +
                  " remembered host(s) of user " +
                  DisplayName(subjects[0].name) + "\n");
  return kExitOk;
}

}  // namespace

Runner DefineForget(CLI::App* sub) {
  return BindOptions(sub, AddFlags, RunForget);
}

}  // namespace defender::ctl
