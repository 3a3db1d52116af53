// A file's path as error messages name it, joined only when a message is
// made: a login opens several files and builds no path unless one fails.
#ifndef PAM_DEFENDER_COMMON_LAZY_PATH_H_
#define PAM_DEFENDER_COMMON_LAZY_PATH_H_

#include <string>
#include <string_view>

namespace defender {

// Refers to its parts, which must outlive it.
class LazyPath {
 public:
  // A whole path (implicit: every std::string path converts).
  LazyPath(const std::string& path) : parts_{path, {}, {}} {}  // NOLINT
  // dir "/" sub "/" file.
  LazyPath(std::string_view dir, std::string_view sub, std::string_view file)
      : parts_{dir, sub, file} {}

  std::string str() const {
    std::string out(parts_[0]);
    for (int i = 1; i < 3; ++i) {
      if (parts_[i].empty()) continue;
      out += '/';
      out += parts_[i];
    }
    return out;
  }

 private:
  std::string_view parts_[3];
};

}  // namespace defender

#endif  // PAM_DEFENDER_COMMON_LAZY_PATH_H_
