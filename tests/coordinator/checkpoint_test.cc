// The checkpoint file format and CheckpointStore: round trips, corrupt and
// truncated files, rotation, the metrics log on resume, and crash safety at
// every file-system operation (tests/testing/fake_file_system.h).

#include "coordinator/checkpoint.h"

#include <iostream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "tests/testing/crash_points.h"
#include "tests/testing/fake_file_system.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace fedge::coordinator {
namespace {

using ::fedge::testing::CrashLoss;
using ::fedge::testing::FakeFileSystem;
using ::fedge::testing::ForEachCrashPoint;
using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;
using ::testing::ElementsAre;

constexpr char kDir[] = "/state";

Checkpoint MakeCheckpoint(uint64_t round) {
  Checkpoint c;
  CoordinatorSnapshot& s = c.coordinator;
  s.round = round;
  s.completed_rounds = round;
  s.model_version = round;
  s.consecutive_failures = static_cast<uint32_t>(round % 2);
  s.model.manifest.tensors = {{"w", {2, 3}, protocol::DType::kFloat32}};
  s.model.architecture_id = "builtin:mlp";
  s.model.architecture = "mlp";
  for (int i = 0; i < 6; ++i) s.model.weights.push_back(static_cast<float>(round) + 0.5f * i);
  s.cohort_rng = "12345 678";
  s.privacy_state = std::string("dp\0state", 8);
  s.control_variate = {0.25f, -1.5f, static_cast<float>(round)};
  s.clients = {{3, 100}, {7, 250}};
  c.metrics_lines_before = round - 1;
  c.round_metrics_line = absl::StrCat("{\"round\":", round, "}");
  return c;
}

void ExpectSame(const Checkpoint& a, const Checkpoint& b) {
  EXPECT_EQ(a.coordinator.round, b.coordinator.round);
  EXPECT_EQ(a.coordinator.completed_rounds, b.coordinator.completed_rounds);
  EXPECT_EQ(a.coordinator.model_version, b.coordinator.model_version);
  EXPECT_EQ(a.coordinator.consecutive_failures, b.coordinator.consecutive_failures);
  EXPECT_EQ(a.coordinator.model.manifest, b.coordinator.model.manifest);
  EXPECT_EQ(a.coordinator.model.architecture_id, b.coordinator.model.architecture_id);
  EXPECT_EQ(a.coordinator.model.architecture, b.coordinator.model.architecture);
  EXPECT_EQ(a.coordinator.model.weights, b.coordinator.model.weights);
  EXPECT_EQ(a.coordinator.optimizer.kind, b.coordinator.optimizer.kind);
  EXPECT_EQ(a.coordinator.optimizer.state, b.coordinator.optimizer.state);
  EXPECT_EQ(a.coordinator.control_variate, b.coordinator.control_variate);
  EXPECT_EQ(a.coordinator.cohort_rng, b.coordinator.cohort_rng);
  EXPECT_EQ(a.coordinator.privacy_state, b.coordinator.privacy_state);
  EXPECT_EQ(a.coordinator.clients, b.coordinator.clients);
  EXPECT_EQ(a.metrics_lines_before, b.metrics_lines_before);
  EXPECT_EQ(a.round_metrics_line, b.round_metrics_line);
}

std::unique_ptr<CheckpointStore> OpenStore(FileSystem* fs) {
  auto store = CheckpointStore::Open(kDir, fs);
  EXPECT_THAT(store, IsOk());
  return store.ok() ? *std::move(store) : nullptr;
}

std::optional<uint64_t> NewestRound(CheckpointStore& store) {
  absl::StatusOr<std::optional<Checkpoint>> c = store.LoadNewest();
  EXPECT_THAT(c, IsOk());
  if (!c.ok() || !c->has_value()) return std::nullopt;
  ExpectSame(**c, MakeCheckpoint((*c)->coordinator.round));
  return (*c)->coordinator.round;
}

TEST(CheckpointFormatTest, RoundTripsEveryField) {
  Checkpoint c = MakeCheckpoint(5);
  c.coordinator.optimizer.kind = 9;
  c.coordinator.optimizer.state = std::string("\0momentum", 9);
  absl::StatusOr<std::string> bytes = EncodeCheckpoint(c);
  ASSERT_THAT(bytes, IsOk());
  absl::StatusOr<Checkpoint> back = DecodeCheckpoint(*bytes, bytes->size());
  ASSERT_THAT(back, IsOk());
  ExpectSame(*back, c);
}

TEST(CheckpointFormatTest, EveryTruncationAndBitFlipIsRefusedAsDataLoss) {
  absl::StatusOr<std::string> bytes = EncodeCheckpoint(MakeCheckpoint(3));
  ASSERT_THAT(bytes, IsOk());
  for (size_t n = 0; n < bytes->size(); ++n) {
    EXPECT_THAT(DecodeCheckpoint(bytes->substr(0, n), 1 << 20),
                StatusIs(absl::StatusCode::kDataLoss))
        << "truncated to " << n;
  }
  for (size_t i = 0; i < bytes->size(); ++i) {
    if (i >= 8 && i < 12) continue;  // the format version: FailedPrecondition
    std::string flipped = *bytes;
    flipped[i] ^= 0x10;
    EXPECT_THAT(DecodeCheckpoint(flipped, 1 << 20), StatusIs(absl::StatusCode::kDataLoss))
        << "bit flipped at " << i;
  }
}

TEST(CheckpointFormatTest, LimitsAndFormatVersionAreChecked) {
  absl::StatusOr<std::string> bytes = EncodeCheckpoint(MakeCheckpoint(3));
  ASSERT_THAT(bytes, IsOk());
  EXPECT_THAT(DecodeCheckpoint(*bytes, bytes->size() - 1),
              StatusIs(absl::StatusCode::kResourceExhausted));
  std::string future = *bytes;
  future[8] = static_cast<char>(kCheckpointFormatVersion + 1);
  EXPECT_THAT(DecodeCheckpoint(future, 1 << 20),
              StatusIs(absl::StatusCode::kFailedPrecondition,
                       absl::StrCat("format version ", kCheckpointFormatVersion + 1)));
  EXPECT_THAT(DecodeCheckpoint("FEDGECK", 1 << 20),
              StatusIs(absl::StatusCode::kDataLoss, "truncated"));
}

TEST(CheckpointStoreTest, EmptyDirectoryHasNoCheckpoint) {
  FakeFileSystem fs;
  auto store = OpenStore(&fs);
  EXPECT_EQ(NewestRound(*store), std::nullopt);
}

TEST(CheckpointStoreTest, KeepsTheNewestThree) {
  FakeFileSystem fs;
  auto store = OpenStore(&fs);
  for (uint64_t r = 1; r <= 5; ++r) ASSERT_THAT(store->Write(MakeCheckpoint(r)), IsOk());
  EXPECT_THAT(fs.Paths(), ElementsAre(store->PathOf(3), store->PathOf(4), store->PathOf(5)));
  EXPECT_EQ(NewestRound(*store), 5u);
}

// (c) A corrupt or truncated newest checkpoint: the previous one is used.
TEST(CheckpointStoreTest, CorruptNewestCheckpointFallsBackToThePreviousOne) {
  FakeFileSystem fs;
  auto store = OpenStore(&fs);
  for (uint64_t r = 1; r <= 3; ++r) ASSERT_THAT(store->Write(MakeCheckpoint(r)), IsOk());
  std::string newest = *fs.Contents(store->PathOf(3));
  newest[newest.size() / 2] ^= 1;
  fs.SetContents(store->PathOf(3), newest);
  EXPECT_EQ(NewestRound(*store), 2u);
  fs.SetContents(store->PathOf(2), fs.Contents(store->PathOf(2))->substr(0, 100));  // truncated
  EXPECT_EQ(NewestRound(*store), 1u);
  fs.SetContents(store->PathOf(1), "");
  EXPECT_EQ(NewestRound(*store), std::nullopt);
  // A checkpoint renamed to another round's name is not trusted either.
  fs.SetContents(store->PathOf(9), *EncodeCheckpoint(MakeCheckpoint(8)));
  EXPECT_EQ(NewestRound(*store), std::nullopt);
}

TEST(CheckpointStoreTest, OpenRemovesTemporaryFilesAndIgnoresForeignNames) {
  FakeFileSystem fs;
  fs.SetContents("/state/checkpoint-4.ckpt.tmp", "partial");
  fs.SetContents("/state/checkpoint-04.ckpt", *EncodeCheckpoint(MakeCheckpoint(4)));
  fs.SetContents("/state/notes.txt", "mine");
  auto store = OpenStore(&fs);
  EXPECT_THAT(fs.Paths(), ElementsAre("/state/checkpoint-04.ckpt", "/state/notes.txt"));
  EXPECT_EQ(NewestRound(*store), std::nullopt);
}

TEST(CheckpointStoreTest, FailureAtEveryWriteOperationKeepsThePreviousCheckpoint) {
  int64_t write_ops = 0;
  {
    FakeFileSystem dry;
    auto store = OpenStore(&dry);
    ASSERT_THAT(store->Write(MakeCheckpoint(1)), IsOk());
    const int64_t before = dry.operation_count();
    ASSERT_THAT(store->Write(MakeCheckpoint(2)), IsOk());
    write_ops = dry.operation_count() - before;
  }
  ASSERT_EQ(write_ops, 7);  // create, append, fsync, close, rename, fsync dir, list
  for (int64_t k = 0; k < write_ops; ++k) {
    SCOPED_TRACE(absl::StrCat("failure at write operation ", k));
    FakeFileSystem fs;
    auto store = OpenStore(&fs);
    ASSERT_THAT(store->Write(MakeCheckpoint(1)), IsOk());
    fs.FailOperation(fs.operation_count() + k, absl::ResourceExhaustedError("disk full"));
    absl::StatusOr<size_t> written = store->Write(MakeCheckpoint(2));
    if (k < 6) {
      EXPECT_THAT(written, StatusIs(absl::StatusCode::kResourceExhausted, "disk full"));
    } else {
      EXPECT_THAT(written, IsOk());  // only the clean-up listing failed
    }
    const std::optional<uint64_t> newest = NewestRound(*store);
    ASSERT_TRUE(newest.has_value());
    EXPECT_GE(*newest, k < 6 ? 1u : 2u);
    fs.PowerCycle(CrashLoss::kKeepAll);
    auto rebooted = OpenStore(&fs);
    ASSERT_TRUE(NewestRound(*rebooted).has_value());
    ASSERT_THAT(rebooted->Write(MakeCheckpoint(3)), IsOk());  // a retry succeeds
    EXPECT_EQ(NewestRound(*rebooted), 3u);
  }
}

// (d) Power lost at every file-system operation of a sequence of checkpoint
// writes, under every loss policy: after the restart there is always a valid
// checkpoint, at least as new as the last acknowledged one.
TEST(CheckpointStoreCrashTest, CrashAtEveryOperationLeavesAValidCheckpoint) {
  // Rounds 1-5 written: the newest acknowledged and the one in flight.
  struct Outcome {
    uint64_t acknowledged = 0;
    uint64_t attempted = 0;
  };
  auto run = [](FileSystem* fs) {
    Outcome o;
    auto store = CheckpointStore::Open(kDir, fs);
    if (!store.ok()) return o;
    for (uint64_t r = 1; r <= 5; ++r) {
      o.attempted = r;
      if (!(*store)->Write(MakeCheckpoint(r)).ok()) return o;
      o.acknowledged = r;
    }
    return o;
  };
  int64_t total_ops = 0;
  {
    FakeFileSystem dry;
    ASSERT_EQ(run(&dry).acknowledged, 5u);
    total_ops = dry.operation_count();
  }
  auto check = [](FakeFileSystem* fs, const Outcome& r) {
    auto store = OpenStore(fs);
    ASSERT_NE(store, nullptr);
    const std::optional<uint64_t> newest = NewestRound(*store);
    if (r.acknowledged == 0) {
      if (newest.has_value()) {
        EXPECT_LE(*newest, r.attempted);
      }
    } else {
      ASSERT_TRUE(newest.has_value()) << "acknowledged round " << r.acknowledged << " lost";
      EXPECT_GE(*newest, r.acknowledged);
      EXPECT_LE(*newest, r.attempted);
    }
    for (const std::string& p : fs->Paths()) {
      EXPECT_THAT(p, ::testing::Not(::testing::EndsWith(".tmp")));
    }
    ASSERT_THAT(store->Write(MakeCheckpoint(10)), IsOk());
    fs->PowerCycle(CrashLoss::kLoseAll);
    EXPECT_EQ(NewestRound(*OpenStore(fs)), 10u);
  };
  ForEachCrashPoint(total_ops, run, check);
}

void ExpectLines(const absl::StatusOr<uint64_t>& lines, uint64_t want) {
  ASSERT_THAT(lines, IsOk());
  EXPECT_EQ(*lines, want);
}

TEST(MetricsLogTest, ResumeKeepsTheCursorsLinesAndAppendsTheRoundsLineOnce) {
  FakeFileSystem fs;
  const std::string path = "/out/metrics.jsonl";
  Checkpoint c = MakeCheckpoint(3);  // 2 lines before, then round 3's
  // Crash after the checkpoint, before its line: appended.
  fs.SetContents(path, "{\"round\":1}\n{\"round\":2}\n");
  ExpectLines(ResumeMetricsLog(&fs, path, c), 3);
  EXPECT_EQ(*fs.Contents(path), "{\"round\":1}\n{\"round\":2}\n{\"round\":3}\n");
  // Crash after the line (and a later round's line, half written): one copy.
  fs.SetContents(path, "{\"round\":1}\n{\"round\":2}\n{\"round\":3}\n{\"round\":4}\n{\"ro");
  ExpectLines(ResumeMetricsLog(&fs, path, c), 3);
  EXPECT_EQ(*fs.Contents(path), "{\"round\":1}\n{\"round\":2}\n{\"round\":3}\n");
  ExpectLines(CountLines(&fs, path), 3);
  ExpectLines(CountLines(&fs, "/out/none"), 0);
}

// An async checkpoint also carries earlier versions' lines that were still
// waiting for their evaluations: a resumed run writes each once, in order.
TEST(MetricsLogTest, ResumingAnAsyncCheckpointWritesTheVersionsStillUnpublished) {
  FakeFileSystem fs;
  const std::string path = "/out/metrics.jsonl";
  Checkpoint c = MakeCheckpoint(4);
  c.metrics_lines_before = 1;
  c.round_metrics_line = "{\"round\":2}\n{\"round\":3}\n{\"round\":4}";
  fs.SetContents(path, "{\"round\":1}\n{\"round\":3,\"test_accuracy\":0.5}\n");
  ExpectLines(ResumeMetricsLog(&fs, path, c), 4);
  EXPECT_EQ(*fs.Contents(path), "{\"round\":1}\n{\"round\":2}\n{\"round\":3}\n{\"round\":4}\n");
}

TEST(CheckpointStorePosixTest, WritesRotatesAndLoadsOnARealDirectory) {
  testing::TempDir dir;
  auto store = CheckpointStore::Open(dir.File("state"), PosixFileSystem::Default());
  ASSERT_THAT(store, IsOk());
  for (uint64_t r = 1; r <= 4; ++r) ASSERT_THAT((*store)->Write(MakeCheckpoint(r)), IsOk());
  EXPECT_EQ(NewestRound(**store), 4u);
  auto names = PosixFileSystem::Default()->ListDir(dir.File("state"));
  ASSERT_THAT(names, IsOk());
  EXPECT_EQ(names->size(), 3u);
}

}  // namespace
}  // namespace fedge::coordinator
