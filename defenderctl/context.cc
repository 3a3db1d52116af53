#include "defenderctl/context.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/config_snapshot_file.h"
#include "common/format.h"
#include "common/journal.h"
#include "common/normalize.h"

namespace defender::ctl {
namespace {

// The first of `path` and its parent directory that this process may not
// use, as errno (EACCES/EPERM), or 0. Used to tell a permission problem
// from any other store error, whatever message the backend produced.
int LocalAccessError(const std::string& path) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "."
                          : slash == 0               ? "/"
                                                     : path.substr(0, slash);
  struct stat st;
  if (stat(dir.c_str(), &st) != 0) {
    return errno == EACCES || errno == EPERM ? errno : 0;
  }
  if (!S_ISDIR(st.st_mode)) return 0;  // Not a permission problem.
  if (access(dir.c_str(), X_OK) != 0 && (errno == EACCES || errno == EPERM)) {
    return errno;
  }
  if (access(path.c_str(), R_OK | W_OK) != 0 &&
      (errno == EACCES || errno == EPERM || errno == EROFS)) {
    return errno;
  }
  if (access(dir.c_str(), W_OK) != 0 && (errno == EACCES || errno == EPERM)) {
    return errno;  // The WAL and shared-memory files live beside the file.
  }
  return 0;
}

// Why the local file at `path` cannot be used: a permission problem
// (naming `shown`, with "run as root" when not root), else `err`. Sets
// *access_problem for the former.
std::string LocalError(const std::string& path, const std::string& shown,
                       const std::string& err, bool* access_problem) {
  const int access_error = LocalAccessError(path);
  *access_problem = access_error != 0;
  if (access_error == 0) return err;
  return "cannot open " + shown + ": " + strerror(access_error) +
         (geteuid() != 0 ? " (run as root)" : "");
}

// Prints why the local file at `path` cannot be used: a permission problem
// (naming `shown`, with "run as root" when not root), else "store
// unavailable: err".
void PrintLocalError(const std::string& path, const std::string& shown,
                     const std::string& err) {
  bool access_problem = false;
  const std::string why = LocalError(path, shown, err, &access_problem);
  PrintError(access_problem ? why : "store unavailable: " + why);
}

}  // namespace

void PrintError(const std::string& message) {
  std::fprintf(stderr, "defenderctl: %s\n", EscapeForDisplay(message).c_str());
}

void PrintWarning(const std::string& message) {
  std::fprintf(stderr, "defenderctl: warning: %s\n",
               EscapeForDisplay(message).c_str());
}

void PrintOut(const std::string& text) {
  std::fwrite(text.data(), 1, text.size(), stdout);
}

bool Context::LoadConfig(bool tolerate_invalid) {
  const bool default_path = globals_.config_path.empty();
  const std::string path =
      default_path ? Config::kDefaultConfigPath : globals_.config_path;
  Error e;
  if (LoadConfigFile(path, default_path, &config_, &e)) return true;
  std::string& err = e.message;
  // A file that is missing (a mistyped -c) or not readable by this user is
  // not an invalid configuration: those stay errors.
  const bool missing = e.kind == ErrorKind::kNotFound;
  const bool denied = e.kind == ErrorKind::kPermission;
  if (!tolerate_invalid || missing || denied) {
    if (denied && geteuid() != 0) err += " (run as root)";
    PrintError(err);
    return false;
  }
  ConfigSnapshot last;
  std::string last_err;
  SnapshotRead read =
      ReadConfigSnapshot(globals_.statedir, path, &last, &last_err);
  if (read == SnapshotRead::kAbsent) {
    // Only another build's (the module before an upgrade) compiled it yet.
    ConfigSnapshot other;
    read = ReadOtherBuildsConfigSnapshot(globals_.statedir, path, &other,
                                         &last_err);
    if (read == SnapshotRead::kOk) last = std::move(other);
  }
  if (read == SnapshotRead::kOk) {
    config_ = std::move(last.config);
    PrintWarning(path + " is invalid (" + err +
                 "); using the last valid configuration from " +
                 FormatIso8601(last.identity.mtime_sec));
    return true;
  }
  if (read == SnapshotRead::kBad) {
    // There is one, but this user may not read it, or it is damaged.
    PrintError(err + " (and the last valid version cannot be used: " +
               last_err + ")" + (geteuid() != 0 ? " (run as root)" : ""));
    return false;
  }
  // The module has never enforced this file: it keeps no state by it, and
  // the built-in defaults could name another store than the one the file
  // means (another directory, or Redis).
  PrintError(err + " (and no valid version of " + path +
             " was ever compiled by the module to fall back on)");
  return false;
}

Backend* Context::OpenBackend() {
  if (backend_) return backend_.get();
  Error err;
  BackendOptions options;
  options.redis_server_clock = clock_.IsRealTime();
  backend_ = Backend::Open(config_, options, &err);
  if (backend_) return backend_.get();
  if (err.kind == ErrorKind::kPermission) {
    // The local store's directory, not readable or writable by this user.
    PrintError("cannot open " + config_.dir + ": " + strerror(EACCES) +
               (geteuid() != 0 ? " (run as root)" : ""));
  } else {
    PrintError("store unavailable: " + err.message);
  }
  return nullptr;
}

AttemptArchive* Context::OpenArchive(bool* off, ArchiveUse use,
                                     const std::string& what) {
  *off = false;
  if (archive_) return archive_.get();
  const std::string& dir = config_.dir;
  const std::string path = dir + "/" + kArchiveName;
  struct stat st;
  if (!config_.attempts_store && lstat(path.c_str(), &st) != 0 &&
      lstat((dir + "/" + kJournalName).c_str(), &st) != 0) {
    *off = true;
    return nullptr;
  }
  std::string err;
  archive_ = AttemptArchive::Open(dir, config_.attempts_max_rows, &err);
  if (archive_ && !archive_->Ingest(&ingested_, &err, trim_on_ingest_)) {
    archive_.reset();
  }
  // Whatever the use: a set-aside file is reported by the ingest that set
  // it aside, and by none after it.
  for (const SetAsideFile& f : ingested_.set_aside) {
    PrintWarning(f.reason + (f.moved_to.empty()
                                 ? ": remove it (each command tries again)"
                                 : "; set aside as " + f.moved_to +
                                       ", not moved into the archive: remove "
                                       "it, or, to have its attempts moved "
                                       "in, make it a regular file that "
                                       "passes the check and rename it back "
                                       "to " +
                                       f.path));
  }
  if (!archive_) {
    if (use == ArchiveUse::kRequired) {
      PrintLocalError(path, path, err);
    } else if (use == ArchiveUse::kOptional) {
      bool access_problem = false;
      PrintWarning(what + " unavailable: " +
                   LocalError(path, path, err, &access_problem));
    }
    return nullptr;
  }
  if (use == ArchiveUse::kHint) return archive_.get();
  if (ingested_.skipped_bytes > 0) {
    PrintWarning("skipped " + std::to_string(ingested_.skipped_bytes) +
                 " damaged byte(s) of the attempt journal");
  }
  if (ingested_.busy > 0) {
    PrintWarning(std::to_string(ingested_.busy) +
                 " attempt journal file(s) still locked by a login stopped "
                 "in its append: their attempts are moved by a later "
                 "command");
  }
  return archive_.get();
}

}  // namespace defender::ctl
