// The messages of the Redis channel <key_prefix>:events (doc/DESIGN.md
// §3.11), as the firewall watcher reads them. Anyone who can PUBLISH there
// can send anything, so a message is only a hint naming a subject: the
// watcher re-reads that subject's state in the store and never trusts the
// event's own "until" or "event" for what it applies.
#ifndef PAM_DEFENDER_DEFENDERCTL_FIREWALL_EVENT_H_
#define PAM_DEFENDER_DEFENDERCTL_FIREWALL_EVENT_H_

#include <cstddef>
#include <string>
#include <string_view>

namespace defender::ctl {

// Longer messages are malformed without being parsed.
inline constexpr size_t kMaxEventBytes = 4096;

enum class EventHint {
  kHost,       // A block or unblock of a host subject: re-read it.
  kOther,      // A well-formed event about something else (a user).
  kMalformed,  // Anything else; *why says what.
};

// Parses one message: a JSON object with "event" ("block" or "unblock"),
// "kind" ("user", "host" or another string) and "subject" (a non-empty
// string of at most 256 bytes); other members are ignored. For kHost sets
// *subject, and *block to whether the event claims a block. Never throws,
// for any bytes.
EventHint ParseEventHint(std::string_view message, std::string* subject,
                         bool* block, std::string* why);

}  // namespace defender::ctl

#endif  // PAM_DEFENDER_DEFENDERCTL_FIREWALL_EVENT_H_
