#include "common/error.h"

#include <cerrno>

#include "common/lazy_libc.h"

namespace defender {

ErrorKind KindOfErrno(int e) {
  switch (e) {
    case ENOENT:
    case ENOTDIR:
      return ErrorKind::kNotFound;
    case EACCES:
    case EPERM:
    case EROFS:
      return ErrorKind::kPermission;
    default:
      return ErrorKind::kUnavailable;
  }
}

std::string ErrnoMessage(const std::string& path, const char* what) {
  return path + ": " + what + ": " + lazy::strerror(errno);
}

}  // namespace defender
