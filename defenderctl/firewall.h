// The nftables table of our own that drops blocked hosts (doc/DESIGN.md
// §14): table <inet NAME> with the sets blocked_v4 (ipv4_addr) and
// blocked_v6 (ipv6_addr), both "flags interval, timeout" so that an IPv6
// /64 subject is one element, and one input chain (priority filter - 10,
// policy accept) that drops or rejects their traffic to the configured
// ports. Nothing outside this table is ever read or changed, and a table
// of that name that holds anything else (another program's or the
// administrator's, firewall.table naming it) is neither changed nor deleted:
// every method then fails, saying what it holds.
#ifndef PAM_DEFENDER_DEFENDERCTL_FIREWALL_H_
#define PAM_DEFENDER_DEFENDERCTL_FIREWALL_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "common/config.h"
#include "defenderctl/nft.h"

namespace defender::ctl {

struct FirewallElement {
  bool v6 = false;
  // Canonical text: "192.0.2.7", "2001:db8::1" or "2001:db8:1:2::/64".
  std::string addr;
  // Seconds the element lasts (for a listed one: still lasts); 0 = none.
  int64_t timeout = 0;

  bool operator==(const FirewallElement&) const = default;
};

struct FirewallSettings {
  std::string table = "pam_defender";
  std::vector<int64_t> ports{22};  // Empty: every port.
  bool reject = false;

  static FirewallSettings FromConfig(const Config& cfg);
};

class Firewall {
 public:
  explicit Firewall(FirewallSettings settings)
      : settings_(std::move(settings)) {}

  const FirewallSettings& settings() const { return settings_; }

  // The whole table as nft commands that create it (sets empty) and set
  // the chain's rules to what the settings say; for tests and Ensure().
  std::string TableCommands() const;

  // Creates the table if it is missing and rewrites the chain's rules, in
  // one transaction (the sets' elements stay). *created tells whether the
  // table was missing.
  bool Ensure(bool* created, std::string* err);

  // The elements of both sets, sorted (IPv4 first). *exists is false (and
  // *out empty) when the table does not exist.
  bool List(std::vector<FirewallElement>* out, bool* exists, std::string* err);

  // In one transaction: adds `fresh` (elements not in the sets), gives each
  // element of `update` its timeout (an element already there keeps its own
  // through a plain "add") and removes `remove` (absent ones are no error).
  // The table must exist (Ensure). nft handles each element of an "add" or
  // "delete" on an interval set in time proportional to the set's size:
  // `fresh` costs one "add" (20,000 elements into an empty set: under a
  // second), `update` and `remove` two or three commands each, for the few
  // elements that change between syncs.
  bool Apply(std::span<const FirewallElement> fresh,
             std::span<const FirewallElement> update,
             std::span<const FirewallElement> remove, std::string* err);

  // In one transaction: empties the IPv4 set (if `v4`) and the IPv6 set
  // (if `v6`) and fills them with the elements of `all` of that family.
  // Deleting many elements one by one from an interval set is quadratic in
  // nft 1.0 (20000 took 116 s); this takes a fraction of a second.
  bool Replace(std::span<const FirewallElement> all, bool v4, bool v6,
               std::string* err);

  // Deletes the table; *existed tells whether there was one. A table that
  // is not ours (ForeignObject) is left, with an error.
  bool Remove(bool* existed, std::string* err);

 private:
  // *handle: the table's, when it exists (0 if not listed).
  bool Exists(bool* exists, std::string* err, int64_t* handle = nullptr);

  FirewallSettings settings_;
  Nft nft_;
};

// Parses the output of "nft -j list set" into *out (appended); elements
// that are not a single address or a prefix (a range someone added by
// hand) are returned in *foreign as nft's JSON text.
bool ParseSetListing(const std::string& json, bool v6,
                     std::vector<FirewallElement>* out,
                     std::vector<std::string>* foreign, std::string* err);

// Whether the terse JSON listing of a table (nft -j -t list table) shows a
// table this class did not make: one with anything but the two sets (with
// their type and flags), the input chain as TableCommands() declares it
// and rules in that chain (whatever they are: a full sync rewrites them),
// or one without all three, or with flags or a comment.
// If so, *what says how ("holds chain forward", "has no set blocked_v6").
// *handle is set to the table's handle when listed.
bool ForeignObject(const std::string& json, std::string* what,
                   int64_t* handle = nullptr);

}  // namespace defender::ctl

#endif  // PAM_DEFENDER_DEFENDERCTL_FIREWALL_H_
