// A temporary directory removed with everything in it on destruction.
#ifndef PAM_DEFENDER_TESTS_UNIT_TEMP_DIR_H_
#define PAM_DEFENDER_TESTS_UNIT_TEMP_DIR_H_

#include <stdlib.h>

#include <filesystem>
#include <string>

namespace defender::testing {

class TempDir {
 public:
  TempDir() {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "defender-test-XXXXXX")
            .string();
    path_ = mkdtemp(tmpl.data()) ? tmpl : std::string();
  }
  ~TempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace defender::testing

#endif  // PAM_DEFENDER_TESTS_UNIT_TEMP_DIR_H_
