#ifndef FEDGE_TESTS_TESTING_CRASH_POINTS_H_
#define FEDGE_TESTS_TESTING_CRASH_POINTS_H_

// Crash-safety tests over FakeFileSystem: a write sequence is run once for a
// crash at each of its file-system operations in turn (and once more without
// a crash), under each loss policy, and what survives the power cycle is
// checked. Shared by the model store, checkpoint and verified-version tests.

#include <cstdint>
#include <iostream>
#include <utility>

#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "tests/testing/fake_file_system.h"

namespace fedge::testing {

// Nothing unsynced survives, everything does, unsynced bytes read as zeros,
// and three random mixes.
inline constexpr std::pair<CrashLoss, uint64_t> kCrashLossPolicies[] = {
    {CrashLoss::kLoseAll, 1}, {CrashLoss::kKeepAll, 1}, {CrashLoss::kZeroTail, 1},
    {CrashLoss::kRandom, 1},  {CrashLoss::kRandom, 2},  {CrashLoss::kRandom, 3},
};

// `total_ops`: how many operations `run` does without a crash. For each crash
// point 0..total_ops and each policy: `run(&fs)` on a fresh FakeFileSystem set
// to crash there (it returns what it saw acknowledged), then the power cycle,
// then `check(&fs, result)`. Returns the number of scenarios.
template <typename Run, typename Check>
int ForEachCrashPoint(int64_t total_ops, Run run, Check check) {
  int scenarios = 0;
  for (int64_t k = 0; k <= total_ops; ++k) {
    for (const auto& [loss, seed] : kCrashLossPolicies) {
      SCOPED_TRACE(absl::StrCat("crash at operation ", k, ", loss policy ",
                                static_cast<int>(loss), ", seed ", seed));
      FakeFileSystem fs(seed);
      fs.CrashAtOperation(k);
      const auto result = run(&fs);
      EXPECT_EQ(fs.crashed(), k < total_ops);
      fs.PowerCycle(loss);
      ++scenarios;
      check(&fs, result);
    }
  }
  std::cout << "crash points exercised: " << total_ops + 1 << " x "
            << std::size(kCrashLossPolicies) << " loss policies = " << scenarios
            << " scenarios\n";
  return scenarios;
}

}  // namespace fedge::testing

#endif  // FEDGE_TESTS_TESTING_CRASH_POINTS_H_
