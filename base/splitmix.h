#ifndef FEDGE_BASE_SPLITMIX_H_
#define FEDGE_BASE_SPLITMIX_H_

// splitmix64 (Steele, Lea and Flood 2014): a fast, well-mixed, seedable
// stream for random rounding (update quantisers, small SecAgg rings). Not a
// secret: what it decides only has to be independent of the data and
// reproducible from the seed; seed it from a CSPRNG where it must not be
// predictable.

#include <cstdint>

namespace fedge {

class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
  }
  // In [0, 1), 53 bits.
  double Uniform() { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }

 private:
  uint64_t state_;
};

}  // namespace fedge

#endif  // FEDGE_BASE_SPLITMIX_H_
