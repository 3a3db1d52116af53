// The escaping of untrusted text for people, logs, hooks and JSON (Issue 10
// findings 5 and 6): EscapeForDisplay, EscapeText and EscapeJsonHidden on
// any bytes. Properties: the output is valid UTF-8 with none of the
// forbidden code points (checked against a list written out here, not the
// one in normalize.cc), escaping is deterministic and idempotent, a subject
// prints as it is stored, a name is shown as one word, and JSON stays
// JSON that decodes to the input.
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "common/normalize.h"
#include "fuzz_check.h"

namespace {

// The code points the output must never hold raw: C0, DEL, C1, the bidi
// controls, zero-width and other invisible format characters, and every
// Default_Ignorable_Code_Point (Unicode 15.0 DerivedCoreProperties.txt).
bool Forbidden(uint32_t cp) {
  const auto in = [cp](uint32_t first, uint32_t last) {
    return cp >= first && cp <= last;
  };
  return cp < 0x20 || in(0x7F, 0x9F) || cp == 0xAD || cp == 0x34F ||
         cp == 0x61C || in(0x115F, 0x1160) || in(0x17B4, 0x17B5) ||
         in(0x180B, 0x180F) || in(0x200B, 0x200F) || in(0x2028, 0x202E) ||
         in(0x2060, 0x206F) || cp == 0x3164 || in(0xFE00, 0xFE0F) ||
         cp == 0xFEFF || cp == 0xFFA0 || in(0xFFF0, 0xFFF8) ||
         in(0x1BCA0, 0x1BCA3) || in(0x1D173, 0x1D17A) || in(0xE0000, 0xE0FFF);
}

// What a terminal shows as blank space: Unicode category Zs, and U+2800.
bool Blank(uint32_t cp) {
  return cp == 0x20 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x202F || cp == 0x205F ||
         cp == 0x2800 || cp == 0x3000;
}

// Calls f(cp) for each code point of `s`, which IsBoundedPrintable has
// found valid; returns false as soon as f does.
template <typename F>
bool EachCodePoint(std::string_view s, F f) {
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<uint8_t>(s[i]);
    const size_t len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    uint32_t cp = len == 1 ? c : c & (0x7F >> len);
    for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (s[i + k] & 0x3F);
    if (!f(cp)) return false;
    i += len;
  }
  return true;
}

// Valid UTF-8 with no forbidden code point.
bool Clean(std::string_view s) {
  return fuzz::IsBoundedPrintable(s, s.size()) &&
         EachCodePoint(s, [](uint32_t cp) { return !Forbidden(cp); });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t max = data[0];
  const std::string_view text(reinterpret_cast<const char*>(data) + 1,
                              size - 1);

  const std::string shown = defender::EscapeForDisplay(text);
  fuzz::Check(Clean(shown), "EscapeForDisplay yields clean UTF-8");
  fuzz::Check(defender::EscapeForDisplay(text) == shown,
              "EscapeForDisplay is deterministic");
  fuzz::Check(defender::EscapeForDisplay(shown) == shown,
              "EscapeForDisplay is idempotent");
  fuzz::Check(shown.size() <= 3 * text.size(), "at most 3 bytes per byte");
  // Text with nothing to escape is shown as it is.
  if (fuzz::IsBoundedPrintable(text, text.size()) &&
      EachCodePoint(
          text, [](uint32_t cp) { return !defender::IsHiddenCodePoint(cp); })) {
    fuzz::Check(shown == text, "clean text is shown unchanged");
  }

  const std::string subject = defender::EscapeText(text, max);
  fuzz::Check(subject.size() <= max && Clean(subject),
              "EscapeText yields bounded clean UTF-8");
  fuzz::Check(defender::EscapeForDisplay(subject) == subject,
              "a subject prints as it is stored");

  // A name in a table or a log line is one word: no blank (Zs, or the
  // Braille blank), and otherwise the subject as it prints.
  const std::string word = defender::DisplayName(subject);
  fuzz::Check(Clean(word) &&
                  EachCodePoint(word, [](uint32_t cp) { return !Blank(cp); }),
              "DisplayName yields one clean word");
  fuzz::Check(defender::DisplayName(word) == word, "DisplayName is idempotent");
  fuzz::Check(word.size() <= 3 * subject.size(), "at most 3 bytes per byte");

  // JSON as the CLI writes it: the serializer's dump, then the hidden code
  // points as \u escapes. Compact dump: no newline is the serializer's.
  const nlohmann::json j = std::string(text);
  const std::string dumped = defender::EscapeJsonHidden(
      j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  fuzz::Check(Clean(dumped), "JSON output is clean UTF-8");
  const nlohmann::json back =
      nlohmann::json::parse(dumped, nullptr, /*allow_exceptions=*/false);
  fuzz::Check(!back.is_discarded() && back.is_string(),
              "JSON output stays JSON");
  if (defender::IsValidUtf8(text)) {
    fuzz::Check(back.get<std::string>() == text,
                "JSON output decodes to the text");
  }
  return 0;
}
