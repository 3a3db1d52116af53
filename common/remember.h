// Remembered hosts (doc/DESIGN.md §3.14): the arithmetic every Store applies
// to a user's remembered list and to the subjects of one attempt, on plain
// values, so that each store only loads and saves the list. (The RedisStore
// does the same in its server-side script.)
#ifndef PAM_DEFENDER_COMMON_REMEMBER_H_
#define PAM_DEFENDER_COMMON_REMEMBER_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "common/subject.h"

namespace defender {

// At most this many hosts are remembered per user (the latest successes).
inline constexpr size_t kMaxRememberedHosts = 16;

// The origin of a login without PAM_RHOST (sudo, su, console) in a pair.
inline constexpr std::string_view kLocalOrigin = "local";

// One host of a user's remembered list: remembered while until > now.
struct RememberedHost {
  std::string host;
  int64_t until = 0;
  bool operator==(const RememberedHost&) const = default;
};
using RememberedList = std::vector<RememberedHost>;

// The name of the pair subject of `user` and host subject `host`: "U@H".
std::string PairName(std::string_view user, std::string_view host);

// Splits a pair name at its last '@' (a host subject never contains one).
// False when there is no '@'.
bool SplitPair(std::string_view pair, std::string* user, std::string* host);

// Index of the pair subject in `subjects`, if any.
std::optional<size_t> PairIndex(std::span<const Subject> subjects);

// When `subjects` include a pair U@H, sets *user to U and *host to H and
// returns true.
bool PairOf(std::span<const Subject> subjects, std::string* user,
            std::string* host);

// True when `host` is in `list` and remembered at `now`.
bool IsRemembered(const RememberedList& list, std::string_view host,
                  int64_t now);

// Marks which of `states` (of `subjects`) take no part in the refusal: the
// user's when `remembered`, else the pair's. Without a pair subject, none.
void MarkExempt(std::span<const Subject> subjects, bool remembered,
                std::vector<SubjectState>* states);

// Whether a success that is not refused clears the record of `subject`,
// whose state was `before`, given its reset flag: an exempt user (the
// attempt came from a remembered host) keeps its block, so that a lockout
// by an attacker elsewhere stays in place.
bool SuccessResets(const Subject& subject, const SubjectState& before,
                   bool reset);

// A remembered host's time is a multiple of this (epoch time): the
// successes of the same hour remember until the same second.
inline constexpr int64_t kRememberRoundingSeconds = 3600;

// Until when a success at `now` (the store's clock: the Redis server's for
// the Redis store, redis_script.lua does the same) remembers its host for
// remember_hosts_days in `seconds` (a whole number of hours): the start of
// the hour after the one in which now + seconds falls. So a host is
// remembered for at least that many days after each success, at most an
// hour more; the hour of the last success starts at until - seconds - 3600;
// and the successes after the first of an hour change nothing, which spares
// the local store a write of the user's record (RememberHost says so).
int64_t RememberUntil(int64_t now, int64_t seconds);

// The start of the hour in which the success that remembered a host until
// `until` for `seconds` happened (as RememberUntil rounds; for a time
// stored unrounded, the hour of until - seconds - 1).
int64_t RememberedSince(int64_t until, int64_t seconds);

// Remembers `host` until `until` in *list: adds or refreshes it, drops the
// entries expired at `now`, then the ones that end first beyond
// kMaxRememberedHosts. Returns false when *list was left as it was: `host`
// was remembered until `until` already and no entry had expired.
bool RememberHost(RememberedList* list, std::string_view host, int64_t until,
                  int64_t now);

// Drops from *list the entries expired at `now`, and `host` (every entry
// when nullopt) when `forget` is set. Returns how many were dropped.
int64_t DropRemembered(RememberedList* list, int64_t now, bool forget,
                       const std::optional<std::string>& host);

}  // namespace defender

#endif  // PAM_DEFENDER_COMMON_REMEMBER_H_
