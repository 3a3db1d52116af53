// The trust check for local state (doc/DESIGN.md §9): a directory or file
// that only the effective uid can change.
#ifndef PAM_DEFENDER_COMMON_FILE_TRUST_H_
#define PAM_DEFENDER_COMMON_FILE_TRUST_H_

#include <string>

namespace defender {

// Checks an open descriptor (fstat) of a state directory (`dir`) or file:
// the right type (directory / regular file), owned by the effective uid,
// not writable by group or others. On failure *err names `path` and what is
// wrong ("untrusted store: ...").
bool CheckTrusted(int fd, const std::string& path, bool dir, std::string* err);

}  // namespace defender

#endif  // PAM_DEFENDER_COMMON_FILE_TRUST_H_
