// Order statistics over latency samples (microseconds).
#ifndef PAM_DEFENDER_BENCH_STATS_H_
#define PAM_DEFENDER_BENCH_STATS_H_

#include <algorithm>
#include <cmath>
#include <vector>

namespace bench {

// The q-quantile (0..1) by nearest rank; 0 for no samples.
inline double Quantile(std::vector<double> samples, double q) {
  if (samples.empty()) return 0;
  std::sort(samples.begin(), samples.end());
  const size_t rank =
      static_cast<size_t>(std::ceil(q * static_cast<double>(samples.size())));
  return samples[std::clamp<size_t>(rank, 1, samples.size()) - 1];
}

inline double Median(const std::vector<double>& s) { return Quantile(s, 0.5); }
inline double P99(const std::vector<double>& s) { return Quantile(s, 0.99); }

}  // namespace bench

#endif  // PAM_DEFENDER_BENCH_STATS_H_
