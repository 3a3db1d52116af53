// A subject is what gets counted and blocked: a user name, a remote host, or
// a pair "U@H" of a user and a host subject (doc/DESIGN.md §3.14), always in
// normalised form (see normalize.h).
#ifndef PAM_DEFENDER_COMMON_SUBJECT_H_
#define PAM_DEFENDER_COMMON_SUBJECT_H_

#include <optional>
#include <string>
#include <string_view>

namespace defender {

enum class SubjectKind { kUser, kHost, kPair };

// "user", "host" or "pair": the names used in the store, the CLI, JSON and
// hooks.
const char* KindName(SubjectKind kind);
// Parses "user"/"host"/"pair". Returns nullopt for anything else.
std::optional<SubjectKind> ParseKind(std::string_view name);

struct Subject {
  SubjectKind kind = SubjectKind::kUser;
  std::string name;

  bool operator==(const Subject&) const = default;
};

// What a store knows about one subject at a given time. Expired counters
// read as zero failures; expired blocks read as not blocked.
struct SubjectState {
  int64_t failures = 0;
  bool blocked = false;
  // When blocked: epoch second at which the block ends; 0 = permanent.
  int64_t until = 0;
  // Takes no part in this attempt's refusal (IsRefused, Policy): the user
  // of an attempt from one of its remembered hosts, or the pair of an
  // attempt from any other host. Set by the store step that read the state.
  bool exempt = false;

  bool permanent() const { return blocked && until == 0; }
  // Seconds the block still lasts at `now`; 0 when not blocked or permanent.
  int64_t Remaining(int64_t now) const {
    return blocked && until > now ? until - now : 0;
  }
  bool operator==(const SubjectState&) const = default;
};

}  // namespace defender

#endif  // PAM_DEFENDER_COMMON_SUBJECT_H_
