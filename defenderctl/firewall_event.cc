#include "defenderctl/firewall_event.h"

#include <nlohmann/json.hpp>

#include "common/normalize.h"

namespace defender::ctl {

EventHint ParseEventHint(std::string_view message, std::string* subject,
                         bool* block, std::string* why) {
  using Json = nlohmann::json;
  if (message.size() > kMaxEventBytes) {
    *why = "longer than " + std::to_string(kMaxEventBytes) + " bytes";
    return EventHint::kMalformed;
  }
  const Json doc = Json::parse(message.begin(), message.end(), nullptr,
                               /*allow_exceptions=*/false);
  if (doc.is_discarded() || !doc.is_object()) {
    *why = "not a JSON object";
    return EventHint::kMalformed;
  }
  const auto text = [&](const char* key) -> const std::string* {
    const auto it = doc.find(key);
    return it != doc.end() && it->is_string()
               ? it->get_ptr<const std::string*>()
               : nullptr;
  };
  const std::string* event = text("event");
  const std::string* kind = text("kind");
  const std::string* name = text("subject");
  if (!event || (*event != "block" && *event != "unblock")) {
    *why = "no \"event\" of \"block\" or \"unblock\"";
    return EventHint::kMalformed;
  }
  if (!kind || !name || name->empty() || name->size() > kMaxSubjectBytes) {
    *why = "no string \"kind\" and \"subject\" (1-256 bytes)";
    return EventHint::kMalformed;
  }
  if (*kind != "host") return EventHint::kOther;
  *subject = *name;
  *block = *event == "block";
  return EventHint::kHost;
}

}  // namespace defender::ctl
