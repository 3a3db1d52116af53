// ParseConfigText: the only file that sees toml++. The library is compiled
// here header-only with exceptions off, so no exception can come out of it.
#define TOML_HEADER_ONLY 1
#define TOML_EXCEPTIONS 0
#define TOML_ENABLE_FORMATTERS 0
// toml++ 3.3 asserts on some malformed keys that its parser then rejects
// cleanly (tests/fuzz/regressions/config/): assert() would abort the host
// process, and with NDEBUG the assertion becomes an optimiser assumption.
// Both are turned into no-ops here, whatever NDEBUG says.
#pragma push_macro("NDEBUG")
#undef NDEBUG
#define TOML_ASSERT(expr) static_cast<void>(0)
#include <toml++/toml.h>
#pragma pop_macro("NDEBUG")

#include "common/config.h"
#include "common/config_keys.h"

namespace defender {
namespace {

using config_internal::KeyDef;
using config_internal::Value;

// toml++ 3.3 classifies a non-ASCII character outside a string with code
// that reaches __builtin_unreachable() for some characters (undefined
// behaviour; tests/fuzz/regressions/config/). TOML allows non-ASCII text
// only in strings and comments, so such input is refused here, before
// toml++ sees it. Returns the 1-based line of the first non-ASCII byte
// outside a string or comment, or 0 if there is none.
size_t NonAsciiOutsideStrings(std::string_view text) {
  enum class In {
    kCode,
    kComment,
    kBasic,
    kLiteral,
    kMultiBasic,
    kMultiLiteral,
  };
  In in = In::kCode;
  size_t line = 1;
  // At a closing triple quote, up to two more quotes belong to the content.
  const auto close_multi = [&](size_t* i, char q) {
    size_t end = *i + 3;
    while (end < text.size() && text[end] == q && end - *i < 5) ++end;
    *i = end - 1;
    in = In::kCode;
  };
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const std::string_view rest = text.substr(i, 3);
    if (c == '\n') {
      ++line;
      if (in == In::kComment || in == In::kBasic || in == In::kLiteral) {
        in = In::kCode;  // Single-line strings cannot go on; toml++ says so.
      }
      continue;
    }
    switch (in) {
      case In::kCode:
        if (static_cast<unsigned char>(c) >= 0x80) return line;
        // A quote opens a string only where TOML allows one (after
        // whitespace, '=', '[', ',', '{', '.' or at a line start); a quote
        // glued to other text, as in 44'x', is a syntax error, and what
        // follows it is code to toml++, so it is checked as code here too.
        if ((c == '"' || c == '\'') && i > 0 &&
            std::string_view(" \t\r\n=[,{.").find(text[i - 1]) ==
                std::string_view::npos) {
          break;
        }
        if (c == '#') {
          in = In::kComment;
        } else if (rest == "\"\"\"") {
          in = In::kMultiBasic;
          i += 2;
        } else if (rest == "'''") {
          in = In::kMultiLiteral;
          i += 2;
        } else if (c == '"') {
          in = In::kBasic;
        } else if (c == '\'') {
          in = In::kLiteral;
        }
        break;
      case In::kComment:
        break;
      case In::kBasic:
      case In::kMultiBasic:
        if (c == '\\') {
          if (i + 1 < text.size() && text[i + 1] != '\n') ++i;
        } else if (in == In::kBasic && c == '"') {
          in = In::kCode;
        } else if (in == In::kMultiBasic && rest == "\"\"\"") {
          close_multi(&i, '"');
        }
        break;
      case In::kLiteral:
        if (c == '\'') in = In::kCode;
        break;
      case In::kMultiLiteral:
        if (rest == "'''") close_multi(&i, '\'');
        break;
    }
  }
  return 0;
}

std::string Where(const std::string& name, const toml::source_region& src) {
  return name + ":" + std::to_string(src.begin.line) + ": ";
}

// Converts a TOML node to a Value; false if its type is none we accept.
bool ToValue(const toml::node& node, Value* v) {
  if (const auto* i = node.as_integer()) {
    v->type = Value::Type::kInt;
    v->i = i->get();
    return true;
  }
  if (const auto* b = node.as_boolean()) {
    v->type = Value::Type::kBool;
    v->b = b->get();
    return true;
  }
  if (const auto* s = node.as_string()) {
    v->type = Value::Type::kString;
    v->s = s->get();
    return true;
  }
  if (const auto* arr = node.as_array()) {
    if (arr->empty()) {
      // An empty array fits either list type; SetKey decides.
      v->type = Value::Type::kStringList;
      return true;
    }
    if (arr->is_homogeneous(toml::node_type::integer)) {
      v->type = Value::Type::kIntList;
      for (const auto& e : *arr) v->ints.push_back(e.as_integer()->get());
      return true;
    }
    if (arr->is_homogeneous(toml::node_type::string)) {
      v->type = Value::Type::kStringList;
      for (const auto& e : *arr) v->strings.push_back(e.as_string()->get());
      return true;
    }
  }
  return false;
}

}  // namespace

bool ParseConfigText(std::string_view text, const std::string& name,
                     Config* cfg, std::string* err) {
  if (const size_t line = NonAsciiOutsideStrings(text)) {
    *err = name + ":" + std::to_string(line) +
           ": non-ASCII character outside a string or comment";
    return false;
  }
  toml::parse_result parsed = toml::parse(text, name);
  if (!parsed) {
    const toml::parse_error& e = parsed.error();
    *err = Where(name, e.source()) + std::string(e.description());
    return false;
  }
  for (const auto& [section_key, section] : parsed.table()) {
    const std::string section_name(section_key.str());
    const toml::table* keys = section.as_table();
    const bool known_section =
        section_name == "lockout" || section_name == "store" ||
        section_name == "redis" || section_name == "attempts" ||
        section_name == "hooks";
    if (!known_section || keys == nullptr) {
      *err = Where(name, section_key.source()) + section_name + ": " +
             (known_section ? "must be a table" : "unknown section");
      return false;
    }
    for (const auto& [key, node] : *keys) {
      const std::string full = section_name + "." + std::string(key.str());
      const KeyDef* def = config_internal::FindKey(section_name, key.str());
      if (def == nullptr) {
        *err = Where(name, key.source()) + full + ": unknown key";
        return false;
      }
      Value v;
      if (!ToValue(node, &v)) {
        *err = Where(name, node.source()) + full + ": " +
               config_internal::Expected(def->type);
        return false;
      }
      if (v.type == Value::Type::kStringList && v.strings.empty() &&
          def->type == config_internal::KeyType::kIntOrIntList) {
        v.type = Value::Type::kIntList;
      }
      std::string reason;
      if (!config_internal::SetKey(*def, v, cfg, &reason)) {
        *err = Where(name, node.source()) + reason;
        return false;
      }
    }
  }
  return true;
}

}  // namespace defender
