// fedge-coordinator's end-of-round outputs: the checkpoint and the metrics
// line carry the same line, process figures included, so a resumed run
// re-appends exactly what was written; and the --inject_fault specs.

#include "coordinator/round_outputs.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "base/file_util.h"
#include "coordinator/fault_injection.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace fedge::coordinator {
namespace {

using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;
using ::testing::HasSubstr;

CoordinatorSnapshot Snapshot(uint64_t round) {
  CoordinatorSnapshot s;
  s.round = round;
  s.completed_rounds = round;
  s.model_version = round;
  s.model.manifest.tensors = {{"w", {2}, protocol::DType::kFloat32}};
  s.model.architecture_id = "builtin:mlp";
  s.model.architecture = "mlp";
  s.model.weights = {1.0f * round, 2.0f};
  s.cohort_rng = "1 2";
  return s;
}

RoundReport Report(uint64_t round) {
  RoundReport r;
  r.round = round;
  r.completed = true;
  r.model_version = round;
  r.selected = r.aggregated = 3;
  r.seconds = 0.25 * round;
  return r;
}

// The ordering fedge-coordinator follows: checkpoint, then the metrics line.
void EndRound(CheckpointWriter& writer, ReportPrinter& printer, uint64_t round) {
  ASSERT_THAT(writer.Save(Snapshot(round), Report(round), {}), IsOk());
  printer.OnRoundEnd(Report(round));
}

TEST(RoundOutputsTest, ResumedMetricsLineCarriesTheProcessFiguresAsWritten) {
  fedge::testing::TempDir dir;
  FileSystem* fs = PosixFileSystem::Default();
  absl::StatusOr<std::unique_ptr<CheckpointStore>> store =
      CheckpointStore::Open(dir.File("state"), fs);
  ASSERT_THAT(store, IsOk());
  const std::string metrics = dir.File("metrics.jsonl");
  ReportPrinter printer(metrics, 3, /*quiet=*/true);
  CheckpointWriter writer(store->get(), &printer);
  EndRound(writer, printer, 1);
  EndRound(writer, printer, 2);
  absl::StatusOr<std::string> written = ReadFile(metrics);
  ASSERT_THAT(written, IsOk());
  EXPECT_THAT(*written, HasSubstr("\"round\":2,"));
  EXPECT_THAT(*written, HasSubstr(",\"rss_kb\":"));
  EXPECT_THAT(*written, HasSubstr(",\"open_fds\":"));

  // A crash after round 2's checkpoint and a later round's line: resume cuts
  // the log back and re-appends round 2's line from the checkpoint.
  ASSERT_THAT(AppendLine(metrics, "{\"round\":3,\"completed\":true}"), IsOk());
  absl::StatusOr<std::optional<Checkpoint>> newest = (*store)->LoadNewest();
  ASSERT_THAT(newest, IsOk());
  ASSERT_TRUE(newest->has_value());
  EXPECT_EQ((*newest)->coordinator.round, 2u);
  absl::StatusOr<uint64_t> lines = ResumeMetricsLog(fs, metrics, **newest);
  ASSERT_THAT(lines, IsOk());
  EXPECT_EQ(*lines, 2u);
  absl::StatusOr<std::string> resumed = ReadFile(metrics);
  ASSERT_THAT(resumed, IsOk());
  EXPECT_EQ(*resumed, *written);
}

TEST(RoundOutputsTest, MetricsLineIsMeasuredOncePerRound) {
  ReportPrinter printer("", 3, /*quiet=*/true);
  const std::string first = printer.MetricsLine(Report(1));
  EXPECT_EQ(printer.MetricsLine(Report(1)), first);
  EXPECT_THAT(printer.MetricsLine(Report(2)), HasSubstr("\"round\":2,"));
}

// fedge-sim --attack=backdoor: the attack's success rate sits next to the
// clean accuracy, and only when it was measured.
TEST(RoundOutputsTest, BackdoorSuccessIsWrittenOnlyWhenMeasured) {
  RoundReport r = Report(1);
  r.evaluated = true;
  r.eval.accuracy = 0.5;
  EXPECT_THAT(RoundReportJson(r), ::testing::Not(HasSubstr("backdoor_success")));
  r.eval.backdoor_success = 0.875;
  EXPECT_THAT(RoundReportJson(r),
              HasSubstr("\"test_accuracy\":0.500000,\"test_loss\":0.000000,"
                        "\"backdoor_success\":0.875000"));
}

TEST(RoundOutputsTest, RoundLineCountsCompletedRoundsOnceSomeFailed) {
  RoundReport r;
  r.round = 3;
  r.model_version = 3;
  r.completed = true;
  r.aggregated = 10;
  EXPECT_THAT(RoundLine(r, 10), ::testing::StartsWith("round   3/10  clients  10  "));
  r.round = 5;  // rounds 2 and 4 failed
  EXPECT_THAT(RoundLine(r, 10),
              ::testing::StartsWith("round   5 (3/10 completed)  clients  10  "));
  r.completed = false;
  r.failure = "deadline passed";
  EXPECT_EQ(RoundLine(r, 10), "round   5 FAILED after 0.00s: deadline passed");
}

TEST(CoordinatorFaultPlanTest, ParsesEachFaultAndRefusesTheRest) {
  absl::StatusOr<CoordinatorFaultPlan> none = ParseCoordinatorFaultPlan("");
  ASSERT_THAT(none, IsOk());
  EXPECT_FALSE(none->kill_after_checkpoint_round.has_value());
  EXPECT_FALSE(none->kill_after_updates.has_value());

  absl::StatusOr<CoordinatorFaultPlan> ckpt = ParseCoordinatorFaultPlan("kill_after_checkpoint:4");
  ASSERT_THAT(ckpt, IsOk());
  EXPECT_EQ(ckpt->kill_after_checkpoint_round, 4u);

  absl::StatusOr<CoordinatorFaultPlan> mid = ParseCoordinatorFaultPlan("kill_after_updates:3:2");
  ASSERT_THAT(mid, IsOk());
  ASSERT_TRUE(mid->kill_after_updates.has_value());
  EXPECT_EQ(mid->kill_after_updates->round, 3u);
  EXPECT_EQ(mid->kill_after_updates->updates, 2u);

  for (const char* bad : {"kill_after_updates:3", "kill_after_updates:3:0",
                          "kill_after_updates:0:1", "kill_after_updates:3:2:1",
                          "kill_after_checkpoint:x", "kill_after_checkpoint:0", "explode"}) {
    EXPECT_THAT(ParseCoordinatorFaultPlan(bad), StatusIs(absl::StatusCode::kInvalidArgument))
        << bad;
  }
}

}  // namespace
}  // namespace fedge::coordinator
