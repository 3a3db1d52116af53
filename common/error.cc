#include "common/error.h"

#include <cerrno>

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

}  // namespace defender
