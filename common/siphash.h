// SipHash-2-4 with a 128-bit output (Aumasson and Bernstein, "SipHash: a
// fast short-input PRF", and the reference implementation's 128-bit
// variant). Keyed, it maps names to file names that someone who does not
// know the key cannot make collide; with a fixed key it is the checksum of
// the subject records.
#ifndef PAM_DEFENDER_COMMON_SIPHASH_H_
#define PAM_DEFENDER_COMMON_SIPHASH_H_

#include <array>
#include <cstdint>
#include <span>

namespace defender {

using SipKey = std::array<uint8_t, 16>;
using SipDigest = std::array<uint8_t, 16>;

// SipHash-2-4-128 of `data` under `key`, bytes as the reference code writes
// them (little-endian words).
SipDigest SipHash128(const SipKey& key, std::span<const uint8_t> data);

}  // namespace defender

#endif  // PAM_DEFENDER_COMMON_SIPHASH_H_
