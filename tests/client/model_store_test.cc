// ModelStore against a fault-injecting in-memory file system (crash and
// failure at every operation) and once against the real file system.

#include "client/model_store.h"

#include <algorithm>
#include <fstream>
#include <functional>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "client/model_file.h"
#include "tests/testing/crash_points.h"
#include "tests/testing/fake_file_system.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace fedge::client {
namespace {

using ::fedge::testing::CrashLoss;
using ::fedge::testing::FakeFileSystem;
using ::fedge::testing::ForEachCrashPoint;
using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;
using ::testing::ElementsAre;
using ::testing::IsEmpty;

constexpr char kDir[] = "/data/models";

protocol::ModelPayload MakeModel(uint64_t version) {
  protocol::ModelPayload m;
  m.manifest.tensors = {{"w", {2, 3}, protocol::DType::kFloat32},
                        {"b", {3}, protocol::DType::kFloat32}};
  m.architecture_id = "builtin:mlp";
  for (int i = 0; i < 9; ++i) m.weights.push_back(static_cast<float>(version * 100 + i));
  return m;
}

std::string SignatureOf(uint64_t version) { return absl::StrCat("signed-", version); }

std::string PathOf(uint64_t version) {
  return absl::StrCat(kDir, "/", ModelStore::FileName(version));
}

// Accepts SignatureOf(version) unless the version is listed as rejected.
class FakeVerifier : public ModelVerifier {
 public:
  explicit FakeVerifier(std::set<uint64_t> rejected = {}) : rejected_(std::move(rejected)) {}
  absl::Status Verify(uint64_t version, const protocol::ModelPayload&,
                      absl::Span<const uint8_t> signature) const override {
    const std::string sig(signature.begin(), signature.end());
    if (rejected_.count(version) > 0 || sig != SignatureOf(version)) {
      return absl::UnauthenticatedError(absl::StrCat("bad signature on version ", version));
    }
    return absl::OkStatus();
  }

 private:
  std::set<uint64_t> rejected_;
};

absl::StatusOr<std::unique_ptr<ModelStore>> OpenStore(FileSystem* fs,
                                                      const ModelVerifier* verifier = nullptr,
                                                      size_t keep = 2) {
  ModelStoreOptions options;
  options.keep = keep;
  return ModelStore::Open(kDir, fs, verifier, options);
}

absl::Status CommitVersion(ModelStore& store, uint64_t version) {
  return store.Commit(version, MakeModel(version), SignatureOf(version));
}

// The store's current model is exactly `version` as committed.
void ExpectCurrentIs(const ModelStore& store, uint64_t version) {
  absl::StatusOr<std::shared_ptr<const StoredModel>> current = store.Current();
  ASSERT_THAT(current, IsOk());
  EXPECT_EQ((*current)->version, version);
  EXPECT_EQ((*current)->payload.weights, MakeModel(version).weights);
  EXPECT_EQ((*current)->payload.manifest, MakeModel(version).manifest);
  EXPECT_EQ((*current)->payload.architecture_id, "builtin:mlp");
  EXPECT_EQ((*current)->signature, SignatureOf(version));
}

TEST(ModelStoreTest, EmptyDirectoryOpensEmpty) {
  FakeFileSystem fs;
  auto store = OpenStore(&fs);
  ASSERT_THAT(store, IsOk());
  EXPECT_THAT((*store)->Current(), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT((*store)->versions(), IsEmpty());
}

TEST(ModelStoreTest, CommittedModelSurvivesPowerLossAndReopen) {
  FakeFileSystem fs;
  auto store = OpenStore(&fs);
  ASSERT_THAT(store, IsOk());
  ASSERT_THAT(CommitVersion(**store, 1), IsOk());
  ExpectCurrentIs(**store, 1);
  fs.PowerCycle(CrashLoss::kLoseAll);
  auto reopened = OpenStore(&fs);
  ASSERT_THAT(reopened, IsOk());
  ExpectCurrentIs(**reopened, 1);
}

TEST(ModelStoreTest, OlderVersionIsRefusedAsRollback) {
  FakeFileSystem fs;
  auto store = OpenStore(&fs);
  ASSERT_THAT(store, IsOk());
  ASSERT_THAT(CommitVersion(**store, 5), IsOk());
  EXPECT_THAT(CommitVersion(**store, 3),
              StatusIs(absl::StatusCode::kFailedPrecondition, "roll back"));
  ExpectCurrentIs(**store, 5);
  auto reopened = OpenStore(&fs);
  ASSERT_THAT(reopened, IsOk());
  ExpectCurrentIs(**reopened, 5);
  EXPECT_THAT(CommitVersion(**reopened, 4), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST(ModelStoreTest, SameVersionIsANoOpOnlyWithTheSameContents) {
  FakeFileSystem fs;
  auto store = OpenStore(&fs);
  ASSERT_THAT(store, IsOk());
  ASSERT_THAT(CommitVersion(**store, 2), IsOk());
  const int64_t ops = fs.operation_count();
  EXPECT_THAT(CommitVersion(**store, 2), IsOk());
  EXPECT_EQ(fs.operation_count(), ops) << "an identical re-commit must not touch the disk";
  protocol::ModelPayload changed = MakeModel(2);
  changed.weights[0] = -1;
  EXPECT_THAT((*store)->Commit(2, changed, SignatureOf(2)),
              StatusIs(absl::StatusCode::kAlreadyExists));
  EXPECT_THAT((*store)->Commit(2, MakeModel(2), "other signature"),
              StatusIs(absl::StatusCode::kAlreadyExists));
  ExpectCurrentIs(**store, 2);
}

TEST(ModelStoreTest, KeepsOnlyTheNewestVersions) {
  FakeFileSystem fs;
  auto store = OpenStore(&fs, nullptr, /*keep=*/2);
  ASSERT_THAT(store, IsOk());
  for (uint64_t v = 1; v <= 4; ++v) ASSERT_THAT(CommitVersion(**store, v), IsOk());
  EXPECT_THAT((*store)->versions(), ElementsAre(3, 4));
  EXPECT_THAT(fs.Paths(), ElementsAre(PathOf(3), PathOf(4)));
  auto single = OpenStore(&fs, nullptr, /*keep=*/1);
  ASSERT_THAT(single, IsOk());
  ASSERT_THAT(CommitVersion(**single, 9), IsOk());
  EXPECT_THAT(fs.Paths(), ElementsAre(PathOf(9)));
}

// Each corruption of the newest file; the store must fall back to version 1.
struct Corruption {
  const char* name;
  std::function<void(std::string&)> apply;
};

TEST(ModelStoreTest, CorruptNewestFileFallsBackToThePreviousVersion) {
  auto flip = [](size_t offset) {
    return [offset](std::string& s) { s[std::min(offset, s.size() - 1)] ^= 0x01; };
  };
  auto truncate = [](size_t n) { return [n](std::string& s) { s.resize(std::min(n, s.size())); }; };
  const std::vector<Corruption> corruptions = {
      {"flip magic", flip(0)},           {"flip format", flip(8)},
      {"flip version", flip(12)},        {"flip body length", flip(20)},
      {"flip signature length", flip(28)}, {"flip digest", flip(40)},
      {"flip signature", flip(64)},      {"flip body", flip(200)},
      {"flip last byte", flip(~size_t{0})},
      {"truncate to 0", truncate(0)},    {"truncate in header", truncate(30)},
      {"truncate after header", truncate(64)}, {"truncate in body", truncate(150)},
      {"drop last byte", [](std::string& s) { s.pop_back(); }},
      {"zero tail", [](std::string& s) { std::fill(s.begin() + 100, s.end(), '\0'); }},
      {"append garbage", [](std::string& s) { s += "garbage"; }},
      {"a copy of version 1", nullptr},
  };
  for (const Corruption& c : corruptions) {
    SCOPED_TRACE(c.name);
    FakeFileSystem fs;
    auto store = OpenStore(&fs);
    ASSERT_THAT(store, IsOk());
    ASSERT_THAT(CommitVersion(**store, 1), IsOk());
    ASSERT_THAT(CommitVersion(**store, 2), IsOk());
    std::string bytes = *fs.Contents(PathOf(2));
    if (c.apply) {
      c.apply(bytes);
    } else {
      bytes = *fs.Contents(PathOf(1));  // valid file, wrong name
    }
    fs.SetContents(PathOf(2), bytes);
    auto reopened = OpenStore(&fs);
    ASSERT_THAT(reopened, IsOk());
    ExpectCurrentIs(**reopened, 1);
    EXPECT_THAT((*reopened)->versions(), ElementsAre(1));
    // Version 2 can be committed again over the bad file.
    ASSERT_THAT(CommitVersion(**reopened, 2), IsOk());
    auto again = OpenStore(&fs);
    ASSERT_THAT(again, IsOk());
    ExpectCurrentIs(**again, 2);
  }
}

TEST(ModelStoreTest, AllFilesCorruptOpensEmpty) {
  FakeFileSystem fs;
  fs.SetContents(PathOf(1), "not a model");
  fs.SetContents(PathOf(2), "");
  auto store = OpenStore(&fs);
  ASSERT_THAT(store, IsOk());
  EXPECT_THAT((*store)->Current(), StatusIs(absl::StatusCode::kNotFound));
  ASSERT_THAT(CommitVersion(**store, 1), IsOk());
  ExpectCurrentIs(**store, 1);
}

TEST(ModelStoreTest, UnreadableNewestFileFallsBack) {
  FakeFileSystem fs;
  {
    auto store = OpenStore(&fs);
    ASSERT_THAT(store, IsOk());
    ASSERT_THAT(CommitVersion(**store, 1), IsOk());
    ASSERT_THAT(CommitVersion(**store, 2), IsOk());
  }
  // Open: create dir, list, then read the newest file first.
  fs.FailOperation(fs.operation_count() + 2, absl::InternalError("Input/output error"));
  auto store = OpenStore(&fs);
  ASSERT_THAT(store, IsOk());
  ExpectCurrentIs(**store, 1);
}

TEST(ModelStoreTest, VerifierRejectionOnCommitWritesNothing) {
  FakeFileSystem fs;
  FakeVerifier verifier(/*rejected=*/{2});
  auto store = OpenStore(&fs, &verifier);
  ASSERT_THAT(store, IsOk());
  ASSERT_THAT(CommitVersion(**store, 1), IsOk());
  EXPECT_THAT(CommitVersion(**store, 2), StatusIs(absl::StatusCode::kUnauthenticated));
  EXPECT_THAT((*store)->Commit(3, MakeModel(3), "forged"),
              StatusIs(absl::StatusCode::kUnauthenticated, "version 3"));
  ExpectCurrentIs(**store, 1);
  EXPECT_THAT(fs.Paths(), ElementsAre(PathOf(1)));
}

TEST(ModelStoreTest, VerifierRejectionOnOpenSkipsTheUntrustedVersion) {
  FakeFileSystem fs;
  {
    auto store = OpenStore(&fs);  // no verifier: anything is stored
    ASSERT_THAT(store, IsOk());
    ASSERT_THAT(CommitVersion(**store, 1), IsOk());
    ASSERT_THAT((*store)->Commit(2, MakeModel(2), "forged"), IsOk());
  }
  FakeVerifier verifier;
  auto store = OpenStore(&fs, &verifier);
  ASSERT_THAT(store, IsOk());
  ExpectCurrentIs(**store, 1);
  FakeVerifier rejects_all(/*rejected=*/{1, 2});
  auto untrusted = OpenStore(&fs, &rejects_all);
  ASSERT_THAT(untrusted, IsOk());
  EXPECT_THAT((*untrusted)->Current(), StatusIs(absl::StatusCode::kNotFound));
}

TEST(ModelStoreTest, OpenRemovesTemporaryFilesAndIgnoresForeignNames) {
  FakeFileSystem fs;
  fs.SetContents(PathOf(3) + ".tmp", "half a model");
  fs.SetContents(absl::StrCat(kDir, "/model-07.fms"), "x");
  fs.SetContents(absl::StrCat(kDir, "/notes.txt"), "x");
  auto store = OpenStore(&fs);
  ASSERT_THAT(store, IsOk());
  EXPECT_THAT(fs.Paths(), ElementsAre(absl::StrCat(kDir, "/model-07.fms"),
                                      absl::StrCat(kDir, "/notes.txt")));
}

TEST(ModelStoreTest, FilesOverTheSizeLimitAreNeitherWrittenNorRead) {
  FakeFileSystem fs;
  ModelStoreOptions small;
  small.max_file_bytes = 200;
  auto store = ModelStore::Open(kDir, &fs, nullptr, small);
  ASSERT_THAT(store, IsOk());
  protocol::ModelPayload big = MakeModel(1);
  big.weights.resize(1000);
  big.manifest.tensors = {{"w", {1000}, protocol::DType::kFloat32}};
  EXPECT_THAT((*store)->Commit(1, big, ""), StatusIs(absl::StatusCode::kResourceExhausted));
  auto unlimited = OpenStore(&fs);
  ASSERT_THAT(unlimited, IsOk());
  ASSERT_THAT((*unlimited)->Commit(1, big, ""), IsOk());
  auto limited = ModelStore::Open(kDir, &fs, nullptr, small);
  ASSERT_THAT(limited, IsOk());
  EXPECT_THAT((*limited)->Current(), StatusIs(absl::StatusCode::kNotFound));
}

TEST(ModelStoreTest, CurrentStaysValidWhileANewerVersionIsCommitted) {
  FakeFileSystem fs;
  auto store = OpenStore(&fs, nullptr, /*keep=*/1);
  ASSERT_THAT(store, IsOk());
  ASSERT_THAT(CommitVersion(**store, 1), IsOk());
  std::shared_ptr<const StoredModel> held = *(*store)->Current();
  ASSERT_THAT(CommitVersion(**store, 2), IsOk());
  EXPECT_EQ(held->version, 1u);
  EXPECT_EQ(held->payload.weights, MakeModel(1).weights);
  ExpectCurrentIs(**store, 2);
}

// Open, commit 1, 2, 3 (keep 2, so committing 3 removes 1). Returns the
// newest acknowledged version (0: none) and the one in flight at a failure.
struct SequenceResult {
  uint64_t acknowledged = 0;
  uint64_t attempted = 0;
};
SequenceResult RunCommitSequence(FileSystem* fs) {
  SequenceResult r;
  auto store = OpenStore(fs);
  if (!store.ok()) return r;
  for (uint64_t v = 1; v <= 3; ++v) {
    r.attempted = v;
    if (!CommitVersion(**store, v).ok()) return r;
    r.acknowledged = v;
  }
  return r;
}

TEST(ModelStoreCrashTest, CrashAtEveryOperationLeavesAValidAcknowledgedModel) {
  int64_t total_ops = 0;
  {
    FakeFileSystem dry;
    ASSERT_EQ(RunCommitSequence(&dry).acknowledged, 3u);
    total_ops = dry.operation_count();
  }
  ASSERT_GT(total_ops, 10);  // 2 to open, 6 per commit, 1 removal
  auto check = [](FakeFileSystem* fs, const SequenceResult& r) {
    auto store = OpenStore(fs);
    ASSERT_THAT(store, IsOk());
    absl::StatusOr<std::shared_ptr<const StoredModel>> current = (*store)->Current();
    if (r.acknowledged == 0 && !current.ok()) {
      EXPECT_THAT(current, StatusIs(absl::StatusCode::kNotFound));
    } else {
      ASSERT_THAT(current, IsOk()) << "acknowledged version " << r.acknowledged << " lost";
      const uint64_t v = (*current)->version;
      EXPECT_GE(v, std::max<uint64_t>(r.acknowledged, 1));
      EXPECT_LE(v, r.attempted);
      ExpectCurrentIs(**store, v);
    }
    // No temporary file survives Open, and the store still takes commits.
    for (const std::string& p : fs->Paths()) EXPECT_THAT(p, ::testing::Not(::testing::EndsWith(".tmp")));
    ASSERT_THAT(CommitVersion(**store, 10), IsOk());
    fs->PowerCycle(CrashLoss::kLoseAll);
    auto after = OpenStore(fs);
    ASSERT_THAT(after, IsOk());
    ExpectCurrentIs(**after, 10);
  };
  ForEachCrashPoint(total_ops, RunCommitSequence, check);
}

TEST(ModelStoreCrashTest, FailureAtEveryCommitOperationKeepsThePreviousVersion) {
  int64_t commit_ops = 0;
  {
    FakeFileSystem dry;
    auto store = OpenStore(&dry);
    ASSERT_THAT(store, IsOk());
    ASSERT_THAT(CommitVersion(**store, 1), IsOk());
    const int64_t before = dry.operation_count();
    ASSERT_THAT(CommitVersion(**store, 2), IsOk());
    commit_ops = dry.operation_count() - before;
  }
  ASSERT_EQ(commit_ops, 6);  // create, write, fsync, close, rename, fsync dir
  for (int64_t k = 0; k < commit_ops; ++k) {
    SCOPED_TRACE(absl::StrCat("failure at commit operation ", k));
    FakeFileSystem fs;
    auto store = OpenStore(&fs);
    ASSERT_THAT(store, IsOk());
    ASSERT_THAT(CommitVersion(**store, 1), IsOk());
    fs.FailOperation(fs.operation_count() + k, absl::InternalError("injected I/O error"));
    EXPECT_THAT(CommitVersion(**store, 2),
                StatusIs(absl::StatusCode::kInternal, "injected I/O error"));
    ExpectCurrentIs(**store, 1);
    EXPECT_THAT(fs.Paths(), ElementsAre(PathOf(1)));
    auto reopened = OpenStore(&fs);
    ASSERT_THAT(reopened, IsOk());
    ExpectCurrentIs(**reopened, 1);
    fs.PowerCycle(CrashLoss::kKeepAll);
    auto rebooted = OpenStore(&fs);
    ASSERT_THAT(rebooted, IsOk());
    ExpectCurrentIs(**rebooted, 1);
    ASSERT_THAT(CommitVersion(**rebooted, 2), IsOk());  // a retry succeeds
    ExpectCurrentIs(**rebooted, 2);
  }
}

TEST(ModelStorePosixTest, RoundTripRotationAndRecoveryOnARealDirectory) {
  fedge::testing::TempDir tmp;
  ASSERT_FALSE(tmp.path().empty());
  const std::string dir = tmp.File("device/models");  // created with its parent
  FileSystem* fs = PosixFileSystem::Default();
  FakeVerifier verifier;
  {
    auto store = ModelStore::Open(dir, fs, &verifier, {});
    ASSERT_THAT(store, IsOk());
    for (uint64_t v = 1; v <= 3; ++v) ASSERT_THAT(CommitVersion(**store, v), IsOk());
  }
  auto names = fs->ListDir(dir);
  ASSERT_THAT(names, IsOk());
  EXPECT_THAT(*names, ::testing::UnorderedElementsAre("model-2.fms", "model-3.fms"));
  std::ofstream(dir + "/model-4.fms", std::ios::binary) << "garbage";
  std::ofstream(dir + "/model-5.fms.tmp", std::ios::binary) << "half";
  {
    auto store = ModelStore::Open(dir, fs, &verifier, {});
    ASSERT_THAT(store, IsOk());
    ExpectCurrentIs(**store, 3);
    EXPECT_THAT(fs->ReadFile(dir + "/model-5.fms.tmp", 100),
                StatusIs(absl::StatusCode::kNotFound, "model-5.fms.tmp"));
  }
  // Truncate the newest: the previous version takes over.
  auto bytes = fs->ReadFile(dir + "/model-3.fms", size_t{1} << 20);
  ASSERT_THAT(bytes, IsOk());
  std::ofstream(dir + "/model-3.fms", std::ios::binary | std::ios::trunc)
      << bytes->substr(0, bytes->size() / 2);
  auto store = ModelStore::Open(dir, fs, &verifier, {});
  ASSERT_THAT(store, IsOk());
  ExpectCurrentIs(**store, 2);
}

TEST(ModelFileTest, DecodeNamesTheBadFieldAndItsOffset) {
  absl::StatusOr<std::string> file = EncodeModelFile(7, MakeModel(7), "sig");
  ASSERT_THAT(file, IsOk());
  absl::StatusOr<ModelFile> decoded = DecodeModelFile(*file, file->size());
  ASSERT_THAT(decoded, IsOk());
  EXPECT_EQ(decoded->version, 7u);
  EXPECT_EQ(decoded->signature, "sig");
  EXPECT_EQ(decoded->payload.weights, MakeModel(7).weights);
  EXPECT_THAT(DecodeModelFile(*file, file->size() - 1),
              StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(DecodeModelFile(file->substr(0, 10), 1000),
              StatusIs(absl::StatusCode::kDataLoss, "offset 10"));
  std::string bad = *file;
  bad[8] = 9;  // format version
  EXPECT_THAT(DecodeModelFile(bad, bad.size()),
              StatusIs(absl::StatusCode::kFailedPrecondition, "offset 8: format version 9"));
  bad = *file;
  bad[30] = 0x7f;  // signature length
  EXPECT_THAT(DecodeModelFile(bad, bad.size()), StatusIs(absl::StatusCode::kDataLoss, "offset 28"));
  bad = *file;
  bad.back() ^= 1;
  EXPECT_THAT(DecodeModelFile(bad, bad.size()),
              StatusIs(absl::StatusCode::kDataLoss, "offset 32: SHA-256"));
}

}  // namespace
}  // namespace fedge::client
