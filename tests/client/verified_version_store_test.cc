// VerifiedVersionStore: the file format, refusal of damaged files, crash
// safety against a fault-injecting file system, and the floor applied by a
// restarted client host (a coordinator played by the test).

#include "client/verified_version_store.h"

#include <algorithm>
#include <iostream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "base/file_system.h"
#include "tests/client/client_host_fixture.h"
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
using ::testing::HasSubstr;

constexpr char kDir[] = "/state";

std::string PathOf(uint64_t id) {
  return absl::StrCat(kDir, "/", VerifiedVersionStore::FileName(id));
}

absl::StatusOr<std::unique_ptr<VerifiedVersionStore>> OpenStore(
    FileSystem* fs, const std::vector<uint64_t>& ids = {1, 2}) {
  return VerifiedVersionStore::Open(kDir, ids, fs);
}

// ---- File format ---------------------------------------------------------------

TEST(VerifiedVersionFileTest, RoundTripsAndIsSmallAndFixedSize) {
  for (const VerifiedVersionRecord r :
       {VerifiedVersionRecord{0, 0}, VerifiedVersionRecord{7, 12},
        VerifiedVersionRecord{~uint64_t{0}, ~uint64_t{0} - 1}}) {
    const std::string file = EncodeVerifiedVersionFile(r);
    EXPECT_EQ(file.size(), kVerifiedVersionFileSize);
    EXPECT_EQ(file.substr(0, 7), "FEDGEVV");
    absl::StatusOr<VerifiedVersionRecord> back = DecodeVerifiedVersionFile(file);
    ASSERT_THAT(back, IsOk());
    EXPECT_EQ(back->client_id, r.client_id);
    EXPECT_EQ(back->model_version, r.model_version);
  }
}

TEST(VerifiedVersionFileTest, EveryTruncationAndBitFlipIsRefusedAsDataLoss) {
  const std::string file = EncodeVerifiedVersionFile({3, 41});
  for (size_t n = 0; n < file.size(); ++n) {
    EXPECT_THAT(DecodeVerifiedVersionFile(file.substr(0, n)),
                StatusIs(absl::StatusCode::kDataLoss))
        << "truncated to " << n;
  }
  EXPECT_THAT(DecodeVerifiedVersionFile(file + "x"), StatusIs(absl::StatusCode::kDataLoss));
  for (size_t i = 0; i < file.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      // Flipping bits of the format field is a format-version error instead.
      if (i >= 8 && i < 12) continue;
      std::string bad = file;
      bad[i] ^= static_cast<char>(1 << bit);
      EXPECT_THAT(DecodeVerifiedVersionFile(bad), StatusIs(absl::StatusCode::kDataLoss))
          << "byte " << i << " bit " << bit;
    }
  }
}

TEST(VerifiedVersionFileTest, NamesTheBadFieldAndRefusesOtherFormatsAndLargeFiles) {
  std::string file = EncodeVerifiedVersionFile({3, 41});
  std::string future = file;
  future[8] = 2;
  EXPECT_THAT(DecodeVerifiedVersionFile(future),
              StatusIs(absl::StatusCode::kFailedPrecondition, "offset 8: format version 2"));
  std::string flipped = file;
  flipped[20] ^= 1;  // the version: 40 would be a rollback of 41
  EXPECT_THAT(DecodeVerifiedVersionFile(flipped),
              StatusIs(absl::StatusCode::kDataLoss, "offset 28: SHA-256 mismatch"));
  std::string magic = file;
  magic[0] = 'X';
  EXPECT_THAT(DecodeVerifiedVersionFile(magic),
              StatusIs(absl::StatusCode::kDataLoss, "offset 0: bad magic"));
  EXPECT_THAT(DecodeVerifiedVersionFile(std::string(kMaxVerifiedVersionFileBytes + 1, 'F')),
              StatusIs(absl::StatusCode::kResourceExhausted));
}

// ---- Store ---------------------------------------------------------------------

TEST(VerifiedVersionStoreTest, EmptyDirectoryHasNoFloor) {
  FakeFileSystem fs;
  auto store = OpenStore(&fs);
  ASSERT_THAT(store, IsOk());
  EXPECT_EQ((*store)->Floor(), std::nullopt);
  EXPECT_EQ((*store)->Recorded(1), std::nullopt);
  EXPECT_THAT(VerifiedVersionStore::Open(kDir, {}, &fs),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(VerifiedVersionStoreTest, RaisedVersionSurvivesPowerLossAndOnlyRises) {
  FakeFileSystem fs;
  {
    auto store = OpenStore(&fs);
    ASSERT_THAT(store, IsOk());
    ASSERT_THAT((*store)->Raise(5), IsOk());
    EXPECT_EQ((*store)->Recorded(1), 5u);
    EXPECT_EQ((*store)->Recorded(2), 5u);
    // Lower and equal versions write nothing.
    const int64_t ops = fs.operation_count();
    ASSERT_THAT((*store)->Raise(3), IsOk());
    ASSERT_THAT((*store)->Raise(5), IsOk());
    EXPECT_EQ(fs.operation_count(), ops);
    EXPECT_EQ((*store)->Floor(), 5u);
  }
  fs.PowerCycle(CrashLoss::kLoseAll);
  EXPECT_THAT(fs.Paths(), ElementsAre(PathOf(1), PathOf(2)));
  auto reopened = OpenStore(&fs);
  ASSERT_THAT(reopened, IsOk());
  EXPECT_EQ((*reopened)->Floor(), 5u);
}

TEST(VerifiedVersionStoreTest, FloorIsTheLowestRecordedVersionOfTheHostedClients) {
  FakeFileSystem fs;
  fs.SetContents(PathOf(1), EncodeVerifiedVersionFile({1, 9}));
  fs.SetContents(PathOf(2), EncodeVerifiedVersionFile({2, 4}));
  fs.SetContents(PathOf(3), EncodeVerifiedVersionFile({3, 1}));  // not hosted
  auto store = OpenStore(&fs, {1, 2, 5});  // 5 is new: no record
  ASSERT_THAT(store, IsOk());
  EXPECT_EQ((*store)->Floor(), 4u);
  EXPECT_EQ((*store)->Recorded(5), std::nullopt);
  EXPECT_EQ((*store)->Recorded(3), std::nullopt);
  auto alone = OpenStore(&fs, {1});
  ASSERT_THAT(alone, IsOk());
  EXPECT_EQ((*alone)->Floor(), 9u);
  // Raising writes the clients below it, and the new one.
  ASSERT_THAT((*store)->Raise(6), IsOk());
  EXPECT_EQ((*store)->Recorded(1), 9u);
  EXPECT_EQ((*store)->Recorded(2), 6u);
  EXPECT_EQ((*store)->Recorded(5), 6u);
  EXPECT_EQ((*store)->Floor(), 6u);
}

TEST(VerifiedVersionStoreTest, CorruptTruncatedOrMisplacedFileIsAnErrorAtOpenNamingIt) {
  const std::string good = EncodeVerifiedVersionFile({2, 7});
  struct Case {
    std::string bytes;
    absl::StatusCode code;
    std::string says;
  };
  std::string flipped = good;
  flipped[21] ^= 0x10;
  const std::vector<Case> cases = {
      {"", absl::StatusCode::kDataLoss, "0 bytes"},
      {good.substr(0, 30), absl::StatusCode::kDataLoss, "30 bytes"},
      {flipped, absl::StatusCode::kDataLoss, "SHA-256 mismatch"},
      {EncodeVerifiedVersionFile({1, 7}), absl::StatusCode::kDataLoss, "records client 1"},
      {std::string(kMaxVerifiedVersionFileBytes + 1, 'x'), absl::StatusCode::kResourceExhausted,
       ""},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.says);
    FakeFileSystem fs;
    fs.SetContents(PathOf(1), EncodeVerifiedVersionFile({1, 7}));
    fs.SetContents(PathOf(2), c.bytes);
    auto store = OpenStore(&fs);
    EXPECT_THAT(store, StatusIs(c.code, c.says));
    EXPECT_THAT(store.status().message(), HasSubstr(PathOf(2)));
  }
}

// Raises 3, 5, 9 for clients 1 and 2; the last value every client had
// acknowledged (0: none) and the highest attempted.
struct SequenceResult {
  uint64_t acknowledged = 0;
  uint64_t attempted = 0;
  bool opened = false;
};

SequenceResult RunRaiseSequence(FileSystem* fs) {
  SequenceResult r;
  auto store = OpenStore(fs);
  if (!store.ok()) return r;
  r.opened = true;
  for (uint64_t v : {3, 5, 9}) {
    r.attempted = v;
    if (!(*store)->Raise(v).ok()) break;
    r.acknowledged = v;
  }
  return r;
}

TEST(VerifiedVersionStoreCrashTest, CrashAtEveryOperationKeepsAnAcknowledgedVersionReadable) {
  int64_t total_ops = 0;
  {
    FakeFileSystem dry;
    ASSERT_EQ(RunRaiseSequence(&dry).acknowledged, 9u);
    total_ops = dry.operation_count();
  }
  ASSERT_EQ(total_ops, 1 + 2 + 3 * 2 * 6);  // mkdir, 2 reads, 6 per client and raise
  auto check = [](FakeFileSystem* fs, const SequenceResult& r) {
    // Never a corrupt file: the store opens, and no client lost an
    // acknowledged version or got one that was never attempted.
    auto store = OpenStore(fs);
    ASSERT_THAT(store, IsOk());
    for (uint64_t id : {1, 2}) {
      std::optional<uint64_t> v = (*store)->Recorded(id);
      if (r.acknowledged > 0) {
        ASSERT_TRUE(v.has_value()) << "client " << id << " lost version " << r.acknowledged;
      }
      if (v.has_value()) {
        EXPECT_GE(*v, r.acknowledged);
        EXPECT_LE(*v, r.attempted);
      }
    }
    // And it takes new versions.
    ASSERT_THAT((*store)->Raise(10), IsOk());
    fs->PowerCycle(CrashLoss::kLoseAll);
    auto after = OpenStore(fs);
    ASSERT_THAT(after, IsOk());
    EXPECT_EQ((*after)->Floor(), 10u);
  };
  ForEachCrashPoint(total_ops, RunRaiseSequence, check);
}

TEST(VerifiedVersionStoreCrashTest, FailureAtEveryWriteOperationKeepsTheDurableValue) {
  for (int64_t k = 0; k < 6; ++k) {  // create, append, fsync, close, rename, fsync dir
    SCOPED_TRACE(absl::StrCat("failure at write operation ", k));
    FakeFileSystem fs;
    auto store = OpenStore(&fs, {1});
    ASSERT_THAT(store, IsOk());
    ASSERT_THAT((*store)->Raise(4), IsOk());
    fs.FailOperation(fs.operation_count() + k, absl::InternalError("injected I/O error"));
    EXPECT_THAT((*store)->Raise(8), StatusIs(absl::StatusCode::kInternal, "injected I/O error"));
    EXPECT_EQ((*store)->Recorded(1), 4u);  // the durable value, so the next Raise retries
    fs.PowerCycle(CrashLoss::kLoseAll);
    auto reopened = OpenStore(&fs, {1});
    ASSERT_THAT(reopened, IsOk());
    const uint64_t v = (*reopened)->Floor().value_or(0);
    EXPECT_TRUE(v == 4 || (k == 5 && v == 8)) << v;  // a renamed file may survive
    ASSERT_THAT((*store)->Raise(8), IsOk());           // a retry succeeds
    EXPECT_EQ((*store)->Recorded(1), 8u);
  }
}

TEST(VerifiedVersionStorePosixTest, RoundTripOnARealDirectoryCreatesIt) {
  fedge::testing::TempDir tmp;
  const std::string dir = tmp.File("state/nested");
  {
    auto store = VerifiedVersionStore::Open(dir, {0}, PosixFileSystem::Default());
    ASSERT_THAT(store, IsOk());
    ASSERT_THAT((*store)->Raise(17), IsOk());
  }
  auto store = VerifiedVersionStore::Open(dir, {0}, PosixFileSystem::Default());
  ASSERT_THAT(store, IsOk());
  EXPECT_EQ((*store)->Floor(), 17u);
}

// ---- The floor applied by a restarted client host ------------------------------

class PersistedFloorTest : public SignedModelTest {
 protected:
  // A host for client 1 that persists to `store` if not null.
  void StartPersistingHost(VerifiedVersionStore* store) {
    configure_ = [store](ClientHostOptions& o) {
      if (store != nullptr) PersistVerifiedVersions(store, &o);
    };
    StartHost({1});
  }
  void StopHost() {
    host_->Stop();
    JoinHost();
  }
  // Register() for a host started after another stopped: skips the stopped
  // host's Leave.
  std::string RegisterAgain() {
    for (;;) {
      auto m = coordinator_.Next();
      EXPECT_THAT(m, IsOk());
      if (!m.ok()) return "";
      if (std::holds_alternative<protocol::Leave>(m->second)) continue;
      EXPECT_TRUE(std::holds_alternative<protocol::Hello>(m->second));
      coordinator_.Send(m->first, protocol::Welcome{1, 50, 0});
      return m->first;
    }
  }
  FakeFileSystem fs_;
};

TEST_F(PersistedFloorTest, RestartedHostRefusesAVersionOlderThanOneVerifiedBeforeTheRestart) {
  {
    auto store = OpenStore(&fs_, {1});
    ASSERT_THAT(store, IsOk());
    StartPersistingHost(store->get());
    const std::string peer = Register();
    coordinator_.Send(peer, Signed(6, 5));
    EXPECT_EQ(NextUpdateRound(), 6u);  // on_model ran before training
    StopHost();
    EXPECT_EQ((*store)->Recorded(1), 5u);
  }
  fs_.PowerCycle(CrashLoss::kLoseAll);
  auto store = OpenStore(&fs_, {1});
  ASSERT_THAT(store, IsOk());
  StartPersistingHost(store->get());
  const std::string peer = RegisterAgain();
  coordinator_.Send(peer, Signed(1, 0));  // a fresh coordinator's version 0
  EXPECT_EQ(NextRefusal(1), protocol::ErrorCode::kRollback);
  coordinator_.Send(peer, Signed(2, 5));  // the same version is fine
  EXPECT_EQ(NextUpdateRound(), 2u);
  EXPECT_EQ(trainer_.calls.load(), 2);
}

TEST_F(PersistedFloorTest, WithoutTheStoreARestartedHostAcceptsTheOlderVersion) {
  StartPersistingHost(nullptr);
  const std::string peer = Register();
  coordinator_.Send(peer, Signed(6, 5));
  EXPECT_EQ(NextUpdateRound(), 6u);
  StopHost();
  StartPersistingHost(nullptr);
  const std::string peer2 = RegisterAgain();
  coordinator_.Send(peer2, Signed(1, 0));
  EXPECT_EQ(NextUpdateRound(), 1u);
}

TEST_F(PersistedFloorTest, ExistingOnModelCallbackStillRuns) {
  auto store = OpenStore(&fs_, {1});
  ASSERT_THAT(store, IsOk());
  std::atomic<uint64_t> seen{0};
  configure_ = [&](ClientHostOptions& o) {
    o.on_model = [&seen](uint64_t v, const protocol::ModelPayload&,
                         const protocol::ModelSignature&) { seen = v + 100; };
    PersistVerifiedVersions(store->get(), &o);
  };
  StartHost({1});
  const std::string peer = Register();
  coordinator_.Send(peer, Signed(3, 2));
  EXPECT_EQ(NextUpdateRound(), 3u);
  EXPECT_EQ(seen.load(), 102u);
  StopHost();
  EXPECT_EQ((*store)->Recorded(1), 2u);
}

}  // namespace
}  // namespace fedge::client
