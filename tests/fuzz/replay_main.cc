// Driver for fuzz targets in builds without libFuzzer (GCC): runs the target
// on the seed frames and on deterministic mutations of them (bit flips, byte
// overwrites, truncations, length-field edits), so CTest exercises every
// target on every build. With clang, scripts/fuzz.sh builds real libFuzzer
// binaries from the same target files.
//
//   <target>_replay [--iterations=N] [--seed=S] [--write_corpus=DIR]

#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <random>
#include <string>

#include "base/log.h"
#include "tests/fuzz/seeds.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

void Run(const std::string& bytes) {
  LLVMFuzzerTestOneInput(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
}

std::string Mutate(std::string s, std::mt19937_64& rng) {
  std::uniform_int_distribution<int> kind(0, 5);
  auto pos = [&](size_t n) { return n == 0 ? 0 : std::uniform_int_distribution<size_t>(0, n - 1)(rng); };
  int rounds = 1 + static_cast<int>(rng() % 4);
  for (int r = 0; r < rounds; ++r) {
    switch (kind(rng)) {
      case 0:
        if (!s.empty()) s[pos(s.size())] ^= static_cast<char>(1u << (rng() % 8));
        break;
      case 1:
        if (!s.empty()) s[pos(s.size())] = static_cast<char>(rng());
        break;
      case 2:
        s.resize(pos(s.size() + 1));
        break;
      case 3:
        s.insert(pos(s.size() + 1), 1 + rng() % 16, static_cast<char>(rng()));
        break;
      case 4: {  // overwrite 8 bytes with a "length" that is huge or off by one
        if (s.size() < 8) break;
        uint64_t v = (rng() % 2) ? (uint64_t{1} << (rng() % 63)) : (rng() % 64);
        std::memcpy(&s[pos(s.size() - 7)], &v, 8);
        break;
      }
      case 5:  // keep the envelope consistent with the new size
        if (s.size() >= 16) {
          uint32_t len = static_cast<uint32_t>(s.size() - 16);
          std::memcpy(&s[8], &len, 4);
        }
        break;
    }
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  long iterations = 20000;
  uint64_t seed = 1;
  std::string corpus_dir;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a.rfind("--iterations=", 0) == 0) iterations = std::stol(a.substr(13));
    else if (a.rfind("--seed=", 0) == 0) seed = std::stoull(a.substr(7));
    else if (a.rfind("--write_corpus=", 0) == 0) corpus_dir = a.substr(15);
    else {
      std::fprintf(stderr, "usage: %s [--iterations=N] [--seed=S] [--write_corpus=DIR]\n", argv[0]);
      return 2;
    }
  }
  fedge::SetMinLogLevel(fedge::LogLevel::kError);  // refusals are expected here
  const std::vector<std::string> seeds = fedge::fuzz::SeedFrames();
  if (!corpus_dir.empty()) {
    for (size_t i = 0; i < seeds.size(); ++i) {
      std::ofstream(corpus_dir + "/seed" + std::to_string(i), std::ios::binary) << seeds[i];
    }
    return 0;
  }
  std::mt19937_64 rng(seed);
  for (const std::string& s : seeds) Run(s);
  for (long i = 0; i < iterations; ++i) Run(Mutate(seeds[i % seeds.size()], rng));
  std::printf("%ld mutated inputs and %zu seeds ran without a crash\n", iterations, seeds.size());
  return 0;
}
