// Files of the tests: one temporary directory type (removed with all it
// holds) and whole-file reads and writes.
#ifndef DEFENDER_TESTS_SUPPORT_FILES_H_
#define DEFENDER_TESTS_SUPPORT_FILES_H_

#include <string>

namespace defender::testing {

// A fresh directory under $TMPDIR (or /tmp), mode 0755 so that a test may
// reach it as another user (`nobody`), removed with its contents on
// destruction. Fails the running test if it cannot be made.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const {
    return path_ + "/" + name;
  }
  // Writes `text` to path()/name with `mode`; returns the full path.
  std::string Write(const std::string& name, const std::string& text,
                    int mode = 0600) const;

 private:
  std::string path_;
};

// Writes `text` to `path` (created or truncated) and sets `mode`; fails the
// running test on an error.
void WriteFile(const std::string& path, const std::string& text,
               int mode = 0644);
// The whole file, or "" if it cannot be read.
std::string ReadFile(const std::string& path);
// True when `path` exists (a dangling symlink counts).
bool Exists(const std::string& path);
// `relative` (e.g. "etc/defender.toml") in the project's source tree:
// $DEFENDER_SOURCE_ROOT's (meson test sets it), else the tree the tests were
// built from, so that a test binary run by hand finds it too.
std::string SourcePath(const std::string& relative);
// True when a mapping of this process (/proc/self/maps) names a file whose
// path contains `text`.
bool Mapped(const std::string& text);

}  // namespace defender::testing

#endif  // DEFENDER_TESTS_SUPPORT_FILES_H_
