#include "defenderctl/firewall.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "common/normalize.h"

namespace defender::ctl {
namespace {

using Json = nlohmann::json;

constexpr char kSetV4[] = "blocked_v4";
constexpr char kSetV6[] = "blocked_v6";
constexpr char kChain[] = "input";

std::string SetName(bool v6) { return v6 ? kSetV6 : kSetV4; }

// A timeout as nft reads it: "3d4h5m6s", zero parts left out. nft 1.0.6
// refuses 100,000,000 seconds and more written as seconds alone ("value
// too large"), which one block of 3.2 years would be, failing the whole
// transaction: every host's change with it.
std::string NftDuration(int64_t seconds) {
  const int64_t parts[] = {seconds / 86400, seconds / 3600 % 24,
                           seconds / 60 % 60, seconds % 60};
  std::string s;
  for (int i = 0; i < 4; ++i) {
    if (parts[i] != 0) s += std::to_string(parts[i]) + "dhms"[i];
  }
  return s;
}

// "ADDR" or "ADDR timeout 1d2h3m4s".
std::string ElementText(const FirewallElement& e, bool with_timeout) {
  std::string s = e.addr;
  if (with_timeout && e.timeout > 0) s += " timeout " + NftDuration(e.timeout);
  return s;
}

// Canonical element text for an address and a prefix length.
std::optional<std::string> Canonical(const std::string& addr, int64_t len,
                                     bool v6) {
  const std::optional<IpAddress> ip = ParseIp(addr);
  if (!ip || ip->v6 != v6 || len < 0 || len > ip->bits()) return std::nullopt;
  if (len == ip->bits()) return FormatIp(*ip);
  Cidr c{*ip, static_cast<int>(len)};
  std::string err;
  const std::optional<Cidr> parsed = ParseCidr(c.ToString(), &err);
  if (!parsed) return std::nullopt;
  return parsed->ToString();
}

}  // namespace

FirewallSettings FirewallSettings::FromConfig(const Config& cfg) {
  FirewallSettings s;
  s.table = cfg.firewall_table;
  s.ports = cfg.firewall_ports;
  s.reject = cfg.firewall_reject;
  return s;
}

std::string Firewall::TableCommands() const {
  const std::string t = "inet " + settings_.table;
  std::string o;
  o += "add table " + t + "\n";
  o += "add set " + t + " " + kSetV4 +
       " { type ipv4_addr; flags interval, timeout; }\n";
  o += "add set " + t + " " + kSetV6 +
       " { type ipv6_addr; flags interval, timeout; }\n";
  o += "add chain " + t + " " + kChain +
       " { type filter hook input priority filter - 10; policy accept; }\n";
  o += "flush chain " + t + " " + kChain + "\n";
  std::string match;
  if (!settings_.ports.empty()) {
    match = "meta l4proto { tcp, udp } th dport { ";
    for (size_t i = 0; i < settings_.ports.size(); ++i) {
      match += (i ? ", " : "") + std::to_string(settings_.ports[i]);
    }
    match += " } ";
  }
  for (const bool v6 : {false, true}) {
    const std::string from =
        std::string(v6 ? "ip6" : "ip") + " saddr @" + SetName(v6) + " " + match;
    const std::string rule = "add rule " + t + " " + kChain + " " + from;
    if (settings_.reject) {
      o += rule + "meta l4proto tcp reject with tcp reset\n";
      o += rule + "reject with icmpx admin-prohibited\n";
    } else {
      o += rule + "drop\n";
    }
  }
  return o;
}

bool Firewall::Exists(bool* exists, std::string* err, int64_t* handle) {
  std::string out;
  std::string list_err;
  // Lists only our table, without the sets' elements; a missing table is
  // the one expected failure.
  *exists = nft_.Run("list table inet " + settings_.table,
                     Nft::Output::kJsonTerse, &out, &list_err);
  if (*exists) {
    std::string what;
    if (!ForeignObject(out, &what, handle)) return true;
    *err = "table inet " + settings_.table + " " + what +
           ": it is not pam_defender's table, and is left alone (set "
           "firewall.table to a name no other table has)";
    return false;
  }
  if (list_err.find("No such file or directory") != std::string::npos) {
    return true;
  }
  *err = list_err;
  return false;
}

bool Firewall::Ensure(bool* created, std::string* err) {
  bool exists = false;
  if (!Exists(&exists, err)) return false;
  *created = !exists;
  std::string out;
  return nft_.Run(TableCommands(), Nft::Output::kText, &out, err);
}

bool Firewall::List(std::vector<FirewallElement>* out, bool* exists,
                    std::string* err) {
  out->clear();
  if (!Exists(exists, err)) return false;
  if (!*exists) return true;
  std::vector<std::string> foreign;
  for (const bool v6 : {false, true}) {
    std::string json;
    if (!nft_.Run("list set inet " + settings_.table + " " + SetName(v6),
                  Nft::Output::kJson, &json, err) ||
        !ParseSetListing(json, v6, out, &foreign, err)) {
      return false;
    }
  }
  return true;
}

bool Firewall::Replace(std::span<const FirewallElement> all, bool v4, bool v6,
                       std::string* err) {
  std::string o;
  for (const bool family : {false, true}) {
    if (family ? !v6 : !v4) continue;
    const std::string set = "inet " + settings_.table + " " + SetName(family);
    o += "flush set " + set + "\n";
    std::string timed;
    for (const FirewallElement& e : all) {
      if (e.v6 == family) {
        timed += (timed.empty() ? "" : ", ") + ElementText(e, true);
      }
    }
    if (!timed.empty()) o += "add element " + set + " { " + timed + " }\n";
  }
  if (o.empty()) return true;
  std::string out;
  return nft_.Run(o, Nft::Output::kText, &out, err);
}

bool Firewall::Apply(std::span<const FirewallElement> fresh,
                     std::span<const FirewallElement> update,
                     std::span<const FirewallElement> remove,
                     std::string* err) {
  // Per set, at most three commands whatever the number of elements (one
  // command per element is quadratic in nft for interval sets): "add" makes
  // every updated or removed element exist, so that "delete" never fails;
  // the last "add" sets the timeouts of the updated ones and adds the fresh
  // ones.
  std::string o;
  for (const bool v6 : {false, true}) {
    std::string plain;
    std::string timed;
    for (const FirewallElement& e : remove) {
      if (e.v6 == v6) plain += (plain.empty() ? "" : ", ") + e.addr;
    }
    for (const FirewallElement& e : update) {
      if (e.v6 != v6) continue;
      plain += (plain.empty() ? "" : ", ") + e.addr;
      timed += (timed.empty() ? "" : ", ") + ElementText(e, true);
    }
    for (const FirewallElement& e : fresh) {
      if (e.v6 == v6)
        timed += (timed.empty() ? "" : ", ") + ElementText(e, true);
    }
    const std::string set =
        " element inet " + settings_.table + " " + SetName(v6) + " { ";
    if (!plain.empty()) {
      o += "add" + set + plain + " }\n";
      o += "delete" + set + plain + " }\n";
    }
    if (!timed.empty()) o += "add" + set + timed + " }\n";
  }
  if (o.empty()) return true;
  std::string out;
  return nft_.Run(o, Nft::Output::kText, &out, err);
}

bool Firewall::Remove(bool* existed, std::string* err) {
  int64_t handle = 0;
  if (!Exists(existed, err, &handle)) return false;
  if (!*existed) return true;
  // By the handle of the table just checked: a table of the name made
  // since (another program's) is not the one deleted.
  std::string out;
  return nft_.Run(handle > 0
                      ? "delete table inet handle " + std::to_string(handle)
                      : "delete table inet " + settings_.table,
                  Nft::Output::kText, &out, err);
}

bool ParseSetListing(const std::string& json, bool v6,
                     std::vector<FirewallElement>* out,
                     std::vector<std::string>* foreign, std::string* err) {
  const Json doc = Json::parse(json, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("nftables") ||
      !doc["nftables"].is_array()) {
    *err = "unexpected output from nftables";
    return false;
  }
  for (const Json& item : doc["nftables"]) {
    if (!item.is_object() || !item.contains("set")) continue;
    const Json& set = item["set"];
    if (!set.is_object() || !set.contains("elem") || !set["elem"].is_array()) {
      continue;
    }
    for (const Json& raw : set["elem"]) {
      // An element is "ADDR", {"prefix": {...}}, or {"elem": {"val": one
      // of those, "timeout": N, "expires": N}}.
      Json val = raw;
      int64_t expires = 0;
      if (raw.is_object() && raw.contains("elem") && raw["elem"].is_object()) {
        const Json& e = raw["elem"];
        val = e.value("val", Json());
        if (e.contains("expires") && e["expires"].is_number_integer()) {
          expires = std::max<int64_t>(e["expires"].get<int64_t>(), 1);
        } else if (e.contains("timeout") && e["timeout"].is_number_integer()) {
          expires = e["timeout"].get<int64_t>();
        }
      }
      std::optional<std::string> addr;
      if (val.is_string()) {
        addr = Canonical(val.get<std::string>(), v6 ? 128 : 32, v6);
      } else if (val.is_object() && val.contains("prefix") &&
                 val["prefix"].is_object()) {
        const Json& p = val["prefix"];
        if (p.contains("addr") && p["addr"].is_string() && p.contains("len") &&
            p["len"].is_number_integer()) {
          addr = Canonical(p["addr"].get<std::string>(),
                           p["len"].get<int64_t>(), v6);
        }
      }
      if (!addr) {
        foreign->push_back(raw.dump());
        continue;
      }
      out->push_back(FirewallElement{v6, *addr, expires});
    }
  }
  std::stable_sort(out->begin(), out->end(),
                   [](const FirewallElement& a, const FirewallElement& b) {
                     return a.v6 != b.v6 ? !a.v6 : a.addr < b.addr;
                   });
  return true;
}

namespace {

// Whether every key of object `o` is one of `keys`.
bool OnlyKeys(const Json& o, std::initializer_list<std::string_view> keys) {
  for (auto it = o.begin(); it != o.end(); ++it) {
    if (std::find(keys.begin(), keys.end(), it.key()) == keys.end()) {
      return false;
    }
  }
  return true;
}

std::string Text(const Json& o, const char* key) {
  return o.is_object() && o.contains(key) && o[key].is_string()
             ? o[key].get<std::string>()
             : std::string();
}

}  // namespace

bool ForeignObject(const std::string& json, std::string* what,
                   int64_t* handle) {
  const Json doc = Json::parse(json, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("nftables") ||
      !doc["nftables"].is_array()) {
    *what = "is listed in a form not understood";
    return true;
  }
  const Json flags = Json::array({"interval", "timeout"});
  bool have_v4 = false;
  bool have_v6 = false;
  bool have_chain = false;
  for (const Json& item : doc["nftables"]) {
    if (!item.is_object() || item.size() != 1 ||
        !item.begin().value().is_object()) {
      *what = "holds an object not understood";
      return true;
    }
    const std::string kind = item.begin().key();
    const Json& o = item.begin().value();
    const std::string name = Text(o, "name");
    if (kind == "metainfo") continue;
    if (kind == "table") {
      if (handle && o.contains("handle") && o["handle"].is_number_integer()) {
        *handle = o["handle"].get<int64_t>();
      }
      // Ours has no flags and no comment.
      if (OnlyKeys(o, {"family", "name", "handle"})) continue;
      *what = "has flags or a comment pam_defender does not set";
      return true;
    }
    if (kind == "set" &&
        OnlyKeys(o, {"family", "name", "table", "type", "handle", "flags"}) &&
        o.value("flags", Json()) == flags) {
      if (name == kSetV4 && Text(o, "type") == "ipv4_addr" && !have_v4) {
        have_v4 = true;
        continue;
      }
      if (name == kSetV6 && Text(o, "type") == "ipv6_addr" && !have_v6) {
        have_v6 = true;
        continue;
      }
    } else if (kind == "chain") {
      if (name == kChain && !have_chain &&
          OnlyKeys(o, {"family", "table", "name", "handle", "type", "hook",
                       "prio", "policy"}) &&
          Text(o, "type") == "filter" && Text(o, "hook") == "input" &&
          o.value("prio", Json()) == -10 && Text(o, "policy") == "accept") {
        have_chain = true;
        continue;
      }
    } else if (kind == "rule") {
      // The chain's rules are rewritten by every full sync (Ensure): one
      // added by hand (a counter while debugging) makes the table no less
      // ours. Rules of another chain come with that chain, which is not.
      if (Text(o, "chain") == kChain) continue;
      *what = "holds a rule in chain " + Text(o, "chain");
      return true;
    }
    *what = "holds " + kind + (name.empty() ? "" : " " + name);
    return true;
  }
  // Ensure makes all three in one transaction: a table without one of them
  // was made by someone else.
  if (!have_v4 || !have_v6 || !have_chain) {
    *what =
        std::string("has no ") + (!have_v4   ? "set " + std::string(kSetV4)
                                  : !have_v6 ? "set " + std::string(kSetV6)
                                             : "chain " + std::string(kChain));
    return true;
  }
  return false;
}

}  // namespace defender::ctl
