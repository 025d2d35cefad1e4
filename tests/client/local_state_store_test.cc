// LocalStateStore (local-state.fls): the file format, damaged files refused
// naming the file (or set aside by LoadOrStartAfresh), and crash safety
// against a fault-injecting file system.

#include "client/local_state_store.h"

#include <optional>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "base/file_system.h"
#include "base/little_endian.h"
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
using ::testing::HasSubstr;

constexpr char kDir[] = "/store";
constexpr uint64_t kClient = 3;
const std::string kPath = absl::StrCat(kDir, "/local-state.fls");

protocol::ModelPayload Model(int64_t hidden = 4) {
  protocol::ModelPayload m;
  m.architecture_id = "builtin:test";
  m.manifest.tensors = {
      {"w", {hidden}, protocol::DType::kFloat32, protocol::TensorRole::kParameter, false},
      {"bn.running_mean", {2}, protocol::DType::kFloat32, protocol::TensorRole::kBuffer, true}};
  m.weights.assign(static_cast<size_t>(hidden) + 2, 0.5f);
  return m;
}

// SCAFFOLD and FedBN state of Model(): 6 weights, the last 2 normalisation.
LocalState State(float seed, bool control = true, bool fedbn = true) {
  LocalState s;
  s.model = ModelFingerprint(Model());
  s.num_weights = 6;
  if (control) s.control = {seed, -seed, 2 * seed, 1e-30f, -0.0f, 0.0f};
  s.local_normalization = fedbn;
  if (fedbn) s.normalization = {seed + 1, seed + 2};
  return s;
}

std::string Encoded(const LocalState& s, uint64_t client = kClient) {
  absl::StatusOr<std::string> file = EncodeLocalStateFile(client, s);
  EXPECT_THAT(file, IsOk());
  return file.ok() ? *file : std::string();
}

// ---- File format ----------------------------------------------------------------

TEST(LocalStateFileTest, RoundTripsEveryField) {
  for (const LocalState& s : {State(0.25f), State(-3, true, false), State(7, false, true),
                              LocalState()}) {
    const std::string file = Encoded(s, 99);
    EXPECT_EQ(file.size(), kLocalStateHeaderSize +
                               4 * (s.control.size() + s.normalization.size()) +
                               kLocalStateDigestSize);
    EXPECT_EQ(file.substr(0, 7), "FEDGELS");
    absl::StatusOr<LocalStateFile> back = DecodeLocalStateFile(file, 1 << 20);
    ASSERT_THAT(back, IsOk());
    EXPECT_EQ(back->client_id, 99u);
    EXPECT_TRUE(back->state == s);
  }
}

TEST(LocalStateFileTest, InconsistentStateIsNotEncoded) {
  LocalState s = State(1);
  s.control.pop_back();
  EXPECT_THAT(EncodeLocalStateFile(kClient, s),
              StatusIs(absl::StatusCode::kInvalidArgument, "5 control values for a model of 6"));
  s = State(1);
  s.num_weights = 1;
  s.control.clear();
  EXPECT_THAT(EncodeLocalStateFile(kClient, s),
              StatusIs(absl::StatusCode::kInvalidArgument, "2 normalisation values"));
}

TEST(LocalStateFileTest, EveryTruncationAndBitFlipIsRefusedAsDataLoss) {
  const std::string file = Encoded(State(0.5f));
  for (size_t n = 0; n < file.size(); ++n) {
    EXPECT_THAT(DecodeLocalStateFile(file.substr(0, n), 1 << 20),
                StatusIs(absl::StatusCode::kDataLoss))
        << "truncated to " << n;
  }
  EXPECT_THAT(DecodeLocalStateFile(file + "x", 1 << 20), StatusIs(absl::StatusCode::kDataLoss));
  for (size_t i = 0; i < file.size(); ++i) {
    if (i >= 8 && i < 12) continue;  // the format field: a format-version error instead
    for (int bit = 0; bit < 8; ++bit) {
      std::string bad = file;
      bad[i] ^= static_cast<char>(1 << bit);
      EXPECT_THAT(DecodeLocalStateFile(bad, 1 << 20), StatusIs(absl::StatusCode::kDataLoss))
          << "byte " << i << " bit " << bit;
    }
  }
}

// A file whose digest matches but whose header is not what Encode writes
// (a bug, or a forged file): every count is checked before it is used.
std::string Resealed(std::string file, size_t offset, uint64_t value, size_t bytes) {
  PutLe(value, bytes, &file[offset]);
  file.resize(file.size() - kLocalStateDigestSize);
  const Sha256Digest digest = Sha256(file);
  file.append(reinterpret_cast<const char*>(digest.data()), digest.size());
  return file;
}

TEST(LocalStateFileTest, NamesTheBadFieldAndRefusesOtherFormatsAndLargeFiles) {
  const std::string file = Encoded(State(0.5f));
  std::string future = file;
  future[8] = 2;
  EXPECT_THAT(DecodeLocalStateFile(future, 1 << 20),
              StatusIs(absl::StatusCode::kFailedPrecondition, "offset 8: format version 2"));
  std::string magic = file;
  magic[0] = 'X';
  EXPECT_THAT(DecodeLocalStateFile(magic, 1 << 20),
              StatusIs(absl::StatusCode::kDataLoss, "offset 0: bad magic"));
  std::string flipped = file;
  flipped[kLocalStateHeaderSize + 1] ^= 1;  // a control value
  EXPECT_THAT(DecodeLocalStateFile(flipped, 1 << 20),
              StatusIs(absl::StatusCode::kDataLoss,
                       absl::StrCat("offset ", file.size() - 32, ": SHA-256 mismatch")));
  EXPECT_THAT(DecodeLocalStateFile(file, file.size() - 1),
              StatusIs(absl::StatusCode::kResourceExhausted, "more than the limit"));

  EXPECT_THAT(DecodeLocalStateFile(Resealed(file, 12, 2, 4), 1 << 20),
              StatusIs(absl::StatusCode::kDataLoss, "offset 12: unknown flags 0x2"));
  EXPECT_THAT(DecodeLocalStateFile(Resealed(file, 64, 5, 8), 1 << 20),
              StatusIs(absl::StatusCode::kDataLoss, "offset 64: 5 control values for 6"));
  EXPECT_THAT(DecodeLocalStateFile(Resealed(file, 72, 7, 8), 1 << 20),
              StatusIs(absl::StatusCode::kDataLoss, "offset 72: 7 normalisation values"));
  // Counts of ~2^62 values must not be multiplied into a small number nor
  // allocated: n, c and m all huge and consistent with each other.
  const uint64_t huge = uint64_t{1} << 62;
  std::string forged = Resealed(Resealed(Resealed(file, 56, huge, 8), 64, huge, 8), 72, 0, 8);
  EXPECT_THAT(DecodeLocalStateFile(forged, 1 << 20),
              StatusIs(absl::StatusCode::kDataLoss, "but 32 bytes of values follow"));
}

TEST(ModelFingerprintTest, NamesTheLayoutNotTheWeights) {
  protocol::ModelPayload a = Model(), b = Model();
  b.weights.assign(b.weights.size(), -1.0f);
  b.architecture.clear();
  EXPECT_EQ(ModelFingerprint(a), ModelFingerprint(b));
  EXPECT_NE(ModelFingerprint(a), ModelFingerprint(Model(5)));
  b.manifest.tensors[1].normalization = false;
  EXPECT_NE(ModelFingerprint(a), ModelFingerprint(b));
  b = Model();
  b.architecture_id = "builtin:other";
  EXPECT_NE(ModelFingerprint(a), ModelFingerprint(b));
  b = Model();
  b.manifest.tensors[0].name = "v";
  EXPECT_NE(ModelFingerprint(a), ModelFingerprint(b));
}

// ---- Store ----------------------------------------------------------------------

class LocalStateStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_THAT(fs_.CreateDir(kDir), IsOk()); }
  FakeFileSystem fs_;
  LocalStateStore store_{kDir, kClient, &fs_};
};

TEST_F(LocalStateStoreTest, MissingFileIsNoState) {
  EXPECT_EQ(store_.path(), kPath);
  absl::StatusOr<std::optional<LocalState>> loaded = store_.Load();
  ASSERT_THAT(loaded, IsOk());
  EXPECT_FALSE(loaded->has_value());
  EXPECT_TRUE(store_.LoadOrStartAfresh().empty());
}

TEST_F(LocalStateStoreTest, SavedStateSurvivesPowerLossAndIsReplacedWhole) {
  ASSERT_THAT(store_.Save(State(1)), IsOk());
  ASSERT_THAT(store_.Save(State(2, false, true)), IsOk());
  fs_.PowerCycle(CrashLoss::kLoseAll);
  EXPECT_EQ(fs_.Paths(), std::vector<std::string>{kPath});  // no temporary left
  LocalStateStore reopened(kDir, kClient, &fs_);
  absl::StatusOr<std::optional<LocalState>> loaded = reopened.Load();
  ASSERT_THAT(loaded, IsOk());
  ASSERT_TRUE(loaded->has_value());
  EXPECT_TRUE(**loaded == State(2, false, true));
}

TEST_F(LocalStateStoreTest, DamagedFileIsAnErrorNamingTheFile) {
  const std::string good = Encoded(State(1));
  std::string flipped = good;
  flipped[kLocalStateHeaderSize] ^= 0x40;
  std::string future = good;
  future[8] = 9;
  struct Case {
    std::string bytes;
    absl::StatusCode code;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"", absl::StatusCode::kDataLoss, "truncated"},
      {good.substr(0, good.size() - 5), absl::StatusCode::kDataLoss, "SHA-256 mismatch"},
      {flipped, absl::StatusCode::kDataLoss, "SHA-256 mismatch"},
      {future, absl::StatusCode::kFailedPrecondition, "format version 9"},
      {Encoded(State(1), 4), absl::StatusCode::kFailedPrecondition,
       "local state of client 4, not client 3"},
      {good, absl::StatusCode::kResourceExhausted, ""},  // over a small limit
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.says);
    fs_.SetContents(kPath, c.bytes);
    const bool oversize = c.code == absl::StatusCode::kResourceExhausted;
    LocalStateStore store(kDir, kClient, &fs_, oversize ? good.size() - 1 : 1 << 20);
    absl::StatusOr<std::optional<LocalState>> loaded = store.Load();
    EXPECT_THAT(loaded, StatusIs(c.code, c.says));
    EXPECT_THAT(loaded.status().message(), HasSubstr(kPath));
  }
}

TEST_F(LocalStateStoreTest, LoadOrStartAfreshSetsADamagedFileAsideAndStartsEmpty) {
  std::string bad = Encoded(State(1));
  bad[kLocalStateHeaderSize + 2] ^= 1;
  fs_.SetContents(kPath, bad);
  EXPECT_TRUE(store_.LoadOrStartAfresh().empty());
  EXPECT_EQ(fs_.Contents(kPath), std::nullopt);
  EXPECT_EQ(fs_.Contents(kPath + ".unreadable"), bad);  // kept for diagnosis
  // The next save starts a good file; Load reads it.
  ASSERT_THAT(store_.Save(State(4)), IsOk());
  EXPECT_TRUE(store_.LoadOrStartAfresh() == State(4));
}

// ---- Crash safety -----------------------------------------------------------------

// Saves State(1), State(2, no control), State(3) in turn: the index of the
// last acknowledged one (0: none) and of the one being written.
struct SaveResult {
  int acknowledged = 0;
  int attempted = 0;
};

const LocalState& Saved(int i) {
  static const LocalState states[] = {LocalState(), State(1), State(2, false, true), State(3)};
  return states[i];
}

SaveResult RunSaveSequence(FileSystem* fs) {
  SaveResult r;
  if (!fs->CreateDir(kDir).ok()) return r;
  LocalStateStore store(kDir, kClient, fs);
  for (int i = 1; i <= 3; ++i) {
    r.attempted = i;
    if (!store.Save(Saved(i)).ok()) break;
    r.acknowledged = i;
  }
  return r;
}

TEST(LocalStateStoreCrashTest, CrashAtEveryOperationKeepsTheLastSavedStateReadable) {
  int64_t total_ops = 0;
  {
    FakeFileSystem dry;
    ASSERT_EQ(RunSaveSequence(&dry).acknowledged, 3);
    total_ops = dry.operation_count();
  }
  ASSERT_EQ(total_ops, 1 + 3 * 6);  // mkdir; create, append, fsync, close, rename, fsync dir
  auto check = [](FakeFileSystem* fs, const SaveResult& r) {
    ASSERT_THAT(fs->CreateDir(kDir), IsOk());
    LocalStateStore store(kDir, kClient, fs);
    // Never damaged, never older than acknowledged, never one not attempted.
    absl::StatusOr<std::optional<LocalState>> loaded = store.Load();
    ASSERT_THAT(loaded, IsOk());
    const LocalState got = loaded->value_or(LocalState());
    EXPECT_TRUE(got == Saved(r.acknowledged) || got == Saved(r.attempted))
        << "acknowledged " << r.acknowledged << ", attempted " << r.attempted;
    // And it saves again.
    ASSERT_THAT(store.Save(State(8)), IsOk());
    fs->PowerCycle(CrashLoss::kLoseAll);
    absl::StatusOr<std::optional<LocalState>> after = store.Load();
    ASSERT_THAT(after, IsOk());
    EXPECT_TRUE(after->has_value() && **after == State(8));
  };
  ForEachCrashPoint(total_ops, RunSaveSequence, check);
}

TEST(LocalStateStoreCrashTest, FailureAtEveryWriteOperationKeepsThePreviousFile) {
  for (int64_t k = 0; k < 6; ++k) {  // create, append, fsync, close, rename, fsync dir
    SCOPED_TRACE(absl::StrCat("failure at write operation ", k));
    FakeFileSystem fs;
    ASSERT_THAT(fs.CreateDir(kDir), IsOk());
    LocalStateStore store(kDir, kClient, &fs);
    ASSERT_THAT(store.Save(State(1)), IsOk());
    fs.FailOperation(fs.operation_count() + k, absl::InternalError("injected I/O error"));
    absl::Status s = store.Save(State(2));
    EXPECT_THAT(s, StatusIs(absl::StatusCode::kInternal, "injected I/O error"));
    EXPECT_THAT(s.message(), HasSubstr(kPath));
    fs.PowerCycle(CrashLoss::kLoseAll);
    absl::StatusOr<std::optional<LocalState>> loaded = store.Load();
    ASSERT_THAT(loaded, IsOk());
    ASSERT_TRUE(loaded->has_value());
    // The renamed file may survive when only the directory fsync failed.
    EXPECT_TRUE(**loaded == State(1) || (k == 5 && **loaded == State(2)));
    EXPECT_EQ(fs.Contents(kPath + ".tmp"), std::nullopt);
  }
}

TEST(LocalStateStorePosixTest, RoundTripOnARealDirectory) {
  fedge::testing::TempDir tmp;
  {
    LocalStateStore store(tmp.path(), kClient, PosixFileSystem::Default());
    ASSERT_THAT(store.Save(State(5)), IsOk());
  }
  LocalStateStore store(tmp.path(), kClient, PosixFileSystem::Default());
  absl::StatusOr<std::optional<LocalState>> loaded = store.Load();
  ASSERT_THAT(loaded, IsOk());
  ASSERT_TRUE(loaded->has_value());
  EXPECT_TRUE(**loaded == State(5));
}

}  // namespace
}  // namespace fedge::client
