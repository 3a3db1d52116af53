// What every command works with: the global options, the configuration
// (loaded exactly as the module loads it), the clock, and the store opened
// on demand. Errors are printed here, once, as "defenderctl: ..." on stderr.
#ifndef PAM_DEFENDER_DEFENDERCTL_CONTEXT_H_
#define PAM_DEFENDER_DEFENDERCTL_CONTEXT_H_

#include <cstdint>
#include <memory>
#include <string>

#include "common/archive.h"
#include "common/backend.h"
#include "common/clock.h"
#include "common/config.h"

namespace defender::ctl {

struct GlobalOptions {
  std::string config_path;  // Empty: Config::kDefaultConfigPath.
  bool json = false;
  std::string statedir;  // Where the module's compiled configurations are.
};

class Context {
 public:
  Context(GlobalOptions globals, const Clock& clock)
      : globals_(std::move(globals)), clock_(clock) {}

  // Built-in defaults, then the file: -c PATH (which must exist) or the
  // default path (a missing default file means built-in defaults). On error
  // prints "defenderctl: FILE:LINE: KEY: reason" and returns false, unless
  // `tolerate_invalid` and the file exists and could be read: then, as
  // the module does (doc/DESIGN.md §11.1), the last valid configuration of
  // that file compiled by the module is used, and a warning says so:
  // "defenderctl: warning: FILE is invalid (ERROR); using the last valid
  // configuration from TIME". Without one it is an error too: "ERROR (and
  // no valid version of FILE was ever compiled by the module to fall back
  // on)".
  bool LoadConfig(bool tolerate_invalid);

  // Opens the configured store and the local attempt log (once). On failure
  // prints why (a permission problem says "run as root") and returns
  // nullptr: the command then exits with kExitStore.
  Backend* OpenBackend();

  // How a command needs the attempt archive (OpenArchive).
  enum class ArchiveUse {
    // A failure is printed as an error ("store unavailable: REASON", or
    // a permission problem): the command then exits kExitStore.
    kRequired,
    // A failure is printed as a warning, "WHAT unavailable: REASON": the
    // archive adds WHAT to a command that goes on without it.
    kOptional,
    // Nothing is printed but set-aside journal files: a hint that is
    // silently left out.
    kHint,
  };
  // The attempt archive, with the journal moved into it first (once per
  // command: AttemptArchive::Ingest, which trims the archive to
  // attempts.max_rows when it inserted records). nullptr with *off set
  // when attempts.store is false and there is neither an archive nor a
  // journal (older records are still shown when there are). On failure
  // prints why as `use` says and returns nullptr with *off false. Warns of
  // each journal file the ingest set aside (whatever `use`) and, but for
  // kHint, of damaged journal bytes skipped and of files still held by a
  // stopped append.
  AttemptArchive* OpenArchive(bool* off, ArchiveUse use = ArchiveUse::kRequired,
                              const std::string& what = {});
  // Before OpenArchive: the journal is moved in without trimming (cleanup
  // --dry-run deletes nothing, and counts what a trim would).
  void KeepRowsOnIngest() { trim_on_ingest_ = false; }
  // What OpenArchive moved from the journal.
  const IngestResult& ingested() const { return ingested_; }

  const Config& config() const { return config_; }
  bool json() const { return globals_.json; }
  // -c PATH as given, or "" for the default.
  const std::string& config_path() const { return globals_.config_path; }
  int64_t Now() const { return clock_.Now(); }
  const Clock& clock() const { return clock_; }

 private:
  GlobalOptions globals_;
  const Clock& clock_;
  Config config_;
  std::unique_ptr<Backend> backend_;
  std::unique_ptr<AttemptArchive> archive_;
  bool trim_on_ingest_ = true;
  IngestResult ingested_;
};

// Prints "defenderctl: MESSAGE" on stderr, MESSAGE through EscapeForDisplay
// (normalize.h): it may quote a store's reply.
void PrintError(const std::string& message);
// Prints "defenderctl: warning: MESSAGE" on stderr, escaped the same way.
void PrintWarning(const std::string& message);
// Writes `text` to stdout.
void PrintOut(const std::string& text);

}  // namespace defender::ctl

#endif  // PAM_DEFENDER_DEFENDERCTL_CONTEXT_H_
