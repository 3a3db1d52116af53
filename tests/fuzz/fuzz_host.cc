// Host normalisation and CIDR matching on arbitrary PAM_RHOST and
// allow/deny list entries.
#include <cstdint>
#include <string>
#include <string_view>

#include "common/normalize.h"
#include "fuzz_check.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const int prefix = 1 + data[0] % 128;  // ipv6_prefix is 1-128.
  const std::string_view text(reinterpret_cast<const char*>(data) + 1,
                              size - 1);

  if (std::optional<defender::Host> h = defender::NormalizeHost(text, prefix)) {
    fuzz::Check(!h->subject.empty(), "a host subject is never empty");
    fuzz::Check(
        fuzz::IsBoundedPrintable(h->subject, defender::kMaxSubjectBytes),
        "a host subject is bounded printable text");
    std::optional<defender::Host> again =
        defender::NormalizeHost(h->subject, prefix);
    if (h->ip && h->subject.find('/') == std::string::npos) {
      fuzz::Check(again.has_value(), "an IP subject normalises again");
      fuzz::Check(again->subject == h->subject, "IP subjects are canonical");
    } else if (h->ip) {
      // A network's subject, given as PAM_RHOST text, is a name: never
      // the network itself ('/' is escaped).
      fuzz::Check(
          again.has_value() && !again->ip && again->subject != h->subject,
          "a network's text is not its subject as a host name");
    } else {
      // A name never splits a pair (user@host) elsewhere, nor reads as a
      // network.
      fuzz::Check(h->subject.find_first_of("@/") == std::string::npos,
                  "a host name subject holds no '@' or '/'");
    }
  }

  std::string err;
  if (std::optional<defender::Cidr> net = defender::ParseCidr(text, &err)) {
    fuzz::Check(net->Contains(net->base), "a network contains its base");
    std::optional<defender::Cidr> back =
        defender::ParseCidr(net->ToString(), &err);
    fuzz::Check(back.has_value() && back->ToString() == net->ToString() &&
                    back->prefix == net->prefix,
                "a network prints to text that parses back to it");
  } else {
    fuzz::Check(fuzz::IsBoundedPrintable(err, 400),
                "CIDR errors are bounded printable text");
  }

  if (std::optional<defender::IpAddress> ip = defender::ParseIp(text)) {
    const std::string s = defender::FormatIp(*ip);
    std::optional<defender::IpAddress> back = defender::ParseIp(s);
    fuzz::Check(back.has_value() && *back == *ip,
                "an address prints to text that parses back to it");
  }
  return 0;
}
