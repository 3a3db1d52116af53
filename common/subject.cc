#include "common/subject.h"

namespace defender {

const char* KindName(SubjectKind kind) {
  return kind == SubjectKind::kUser ? "user" : "host";
}

std::optional<SubjectKind> ParseKind(std::string_view name) {
  if (name == "user") return SubjectKind::kUser;
  if (name == "host") return SubjectKind::kHost;
  return std::nullopt;
}

}  // namespace defender
