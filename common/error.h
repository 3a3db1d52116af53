// Typed errors (doc/DESIGN.md §9): what a caller branches on is the kind;
// the message is for people (syslog, stderr) and is never matched.
#ifndef PAM_DEFENDER_COMMON_ERROR_H_
#define PAM_DEFENDER_COMMON_ERROR_H_

#include <string>

namespace defender {

enum class ErrorKind {
  kNone,
  kNotFound,     // A file or directory that does not exist.
  kPermission,   // The system does not allow it (EACCES, EPERM, EROFS):
                 // typically, not run as root.
  kUnavailable,  // Anything else that may pass: I/O, a lock, a server.
  kCorrupt,      // A file that cannot be used as it is: wrong type, owner
                 // or mode of local state (doc/DESIGN.md §9), damaged or
                 // invalid contents (a config with an error).
};

// The kind of a failed system call's errno `e`.
ErrorKind KindOfErrno(int e);

// "PATH: WHAT: " and the text of the current errno: the message of a
// failed system call on `path`.
std::string ErrnoMessage(const std::string& path, const char* what);

struct Error {
  ErrorKind kind = ErrorKind::kNone;
  std::string message;
};

}  // namespace defender

#endif  // PAM_DEFENDER_COMMON_ERROR_H_
