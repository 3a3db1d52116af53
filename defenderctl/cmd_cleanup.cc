// defenderctl cleanup [--older-than DUR] [--dry-run]
#include <CLI/CLI.hpp>
#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <system_error>
#include <thread>

#include "common/format.h"
#include "common/normalize.h"
#include "defenderctl/command.h"
#include "defenderctl/context.h"
#include "defenderctl/output.h"

namespace defender::ctl {
namespace {

struct CleanupOptions {
  std::optional<std::string> older_than;
  bool dry_run = false;
};

// Binds the options of `cleanup` to the flags of `sub`.
void AddFlags(CLI::App* sub, CleanupOptions* opt) {
  sub->add_option("--older-than", opt->older_than,
                  "Delete attempt rows older than DUR (default: "
                  "attempts.expiration_hours)")
      ->type_name("DUR");
  sub->add_flag("--dry-run", opt->dry_run,
                "Only count the rows that would be deleted");
}

// Store::Prune, with what it throws (std::bad_alloc) turned into an error:
// on the thread RunCleanup starts for it, an exception would end the
// process.
bool PruneStore(Store* store, int64_t now, int64_t history_seconds,
                int64_t* removed, std::string* err) {
  try {
    return store->Prune(now, history_seconds, removed, err);
  } catch (const std::exception& e) {
    *err = e.what();
    return false;
  }
}

int RunCleanup(Context* ctx, const CleanupOptions& opt) {
  const Config& cfg = ctx->config();
  int64_t age = cfg.HistorySeconds();
  if (opt.older_than) {
    const std::optional<int64_t> d = ParseDuration(*opt.older_than);
    if (!d) {
      PrintError("--older-than: invalid duration \"" +
                 EscapeText(*opt.older_than, 40) +
                 "\" (use 90s, 15m, 2h, 1d or seconds)");
      return kExitUsage;
    }
    age = *d;
  }
  Backend* backend = ctx->OpenBackend();
  if (!backend) return kExitStore;
  const int64_t now = ctx->Now();
  // Nothing is older than the epoch: a longer duration means the epoch,
  // which is a date the output can show.
  age = std::min(age, now);
  const int64_t before = now - age;
  std::string err;

  // Rows logged before attempts.store was turned off are pruned too. The
  // rows beyond max_rows are trimmed by the ingest when it inserted any,
  // else trimmed below; with --dry-run the journal is moved in untrimmed
  // and the rows beyond max_rows are counted below (a dry run deletes
  // nothing). An archive that cannot be opened (OpenArchive has said why)
  // still leaves the store to prune: a damaged attempt archive must not
  // keep the record files of every name and host tried from expiring.
  bool off = false;
  if (opt.dry_run) ctx->KeepRowsOnIngest();
  AttemptArchive* archive = ctx->OpenArchive(&off);
  const bool archive_failed = !archive && !off;
  SqliteAttemptLog* log = archive ? archive->log() : nullptr;
  // The archive's rows, and the store's expired counters and blocks with
  // the block history past the window that progressive lockouts count
  // (attempts.expiration_hours, not --older-than: the history decides
  // block lengths). The two share nothing (a SQLite file; the record files
  // or Redis), so they are pruned at once, the store on a second thread:
  // cleanup takes as long as the longer of the two, not their sum. Each
  // runs to its end whatever the other does (pruning drops only what has
  // expired), and each failure is reported.
  int64_t rows = 0;
  int64_t over = 0;  // Rows beyond attempts.max_rows.
  bool log_ok = true;
  int64_t records = 0;
  std::string store_err;
  bool store_ok = true;
  const auto prune_store = [&] {
    store_ok = PruneStore(backend->store(), now, cfg.HistorySeconds(), &records,
                          &store_err);
  };
  {
    std::jthread store_thread;  // Joined when this block is left, even by
                                // an exception.
    if (!opt.dry_run) {
      try {
        store_thread = std::jthread(prune_store);
      } catch (const std::system_error&) {
        prune_store();  // No thread to be had: one after the other.
      }
    }
    log_ok = !log || (log->Prune(before, opt.dry_run, &rows, &err) &&
                      log->Trim(before, opt.dry_run, &over, &err));
  }
  // The rows the ingest trimmed are deleted already: counted with the
  // others (none with --dry-run).
  over += ctx->ingested().trimmed;
  if (!log_ok) PrintError("store unavailable: " + err);
  if (!store_ok) PrintError("store unavailable: " + store_err);
  if (archive_failed || !log_ok || !store_ok) return kExitStore;

  if (ctx->json()) {
    Json out;
    out["dry_run"] = opt.dry_run;
    out["older_than_seconds"] = age;
    out["before"] = FormatIso8601(before);
    out["attempts"] = rows;
    out["attempts_over_max_rows"] = over;
    out["store_records"] = opt.dry_run ? Json(nullptr) : Json(records);
    out["journal_records"] = ctx->ingested().records;
    PrintJson(out);
    return kExitOk;
  }
  const std::string span = " attempt row(s) older than " + FormatDuration(age) +
                           " (before " + LocalTime(before) + ")\n";
  const std::string bound =
      over == 0 ? std::string()
                : std::to_string(over) +
                      " attempt row(s) beyond attempts.max_rows = " +
                      std::to_string(cfg.attempts_max_rows) + "\n";
  // Only when there were any, after the lines scripts may read.
  const int64_t moved = ctx->ingested().records;
  const std::string journal =
      moved == 0 ? std::string()
                 : "moved " + std::to_string(moved) +
                       " attempt record(s) from the journal into the "
                       "archive\n";
  if (opt.dry_run) {
    PrintOut("would delete " + std::to_string(rows) + span +
             (bound.empty() ? "" : "would delete " + bound) + journal);
  } else {
    PrintOut("deleted " + std::to_string(rows) + span +
             (bound.empty() ? "" : "deleted " + bound) + "removed " +
             std::to_string(records) + " expired store record(s)\n" + journal);
  }
  return kExitOk;
}

}  // namespace

Runner DefineCleanup(CLI::App* sub) {
  return BindOptions(sub, AddFlags, RunCleanup);
}

}  // namespace defender::ctl
