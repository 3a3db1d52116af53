#include "common/subject.h"

namespace defender {

const char* KindName(SubjectKind kind) {
  switch (kind) {
    case SubjectKind::kUser:
      return "user";
    case SubjectKind::kHost:
      return "host";
    case SubjectKind::kPair:
      return "pair";
  }
  return "user";
}

std::optional<SubjectKind> ParseKind(std::string_view name) {
  if (name == "user") return SubjectKind::kUser;
  if (name == "host") return SubjectKind::kHost;
  if (name == "pair") return SubjectKind::kPair;
  return std::nullopt;
}

}  // namespace defender
