#include "secure/allow_list.h"

#include <sys/stat.h>

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "secure/key_files.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace fedge::secure {
namespace {

using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;

X25519PublicKey Key(uint8_t fill) {
  X25519PublicKey k;
  k.fill(fill);
  return k;
}

std::string Hex(uint8_t fill) { return PublicKeyHex(Key(fill)); }

TEST(AllowListTest, ParsesKeysClientIdsAndComments) {
  const std::string text = absl::StrCat("# devices\n\n", Hex(1), " 3,4,5   # phone\n  ", Hex(2),
                                        "\t7\n");
  absl::StatusOr<AllowList> list = AllowList::Parse(text, "allow.txt");
  ASSERT_THAT(list, IsOk());
  EXPECT_EQ(list->size(), 2u);
  EXPECT_TRUE(list->IsEnrolled(Key(1), 4));
  EXPECT_TRUE(list->IsEnrolled(Key(2), 7));
  EXPECT_FALSE(list->IsEnrolled(Key(1), 7));
  EXPECT_FALSE(list->IsEnrolled(Key(3), 3));
  EXPECT_EQ(list->Find(Key(3)), nullptr);
  ASSERT_NE(list->Find(Key(1)), nullptr);
  EXPECT_EQ(*list->Find(Key(1)), (std::vector<uint64_t>{3, 4, 5}));
  ASSERT_NE(list->KeyFor(7), nullptr);
  EXPECT_EQ(*list->KeyFor(7), Key(2));
}

TEST(AllowListTest, ParseErrorsNameFileAndLine) {
  struct Case {
    std::string text;
    std::string message;
  };
  const std::vector<Case> cases = {
      {Hex(1) + "\n", "allow.txt:1: want '<64-hex public key> <client_id>"},
      {"# ok\n" + Hex(1) + " 1 2\n", "allow.txt:2: want"},
      {Hex(1).substr(1) + " 1\n", "allow.txt:1: public key: want 64 hex digits"},
      {"g" + Hex(1).substr(1) + " 1\n", "allow.txt:1: public key: character 1 is not a hex"},
      {Hex(1) + " 1,,2\n", "allow.txt:1: client ids must be decimal"},
      {Hex(1) + " -1\n", "allow.txt:1: client ids must be decimal"},
      {Hex(1) + " 99999999999999999999999\n", "allow.txt:1: client ids must be decimal"},
      {Hex(1) + " 1,1\n", "allow.txt:1: client id 1 is listed twice"},
      {Hex(1) + " 1\n" + Hex(1) + " 2\n", "allow.txt:2: key 01010101... is already enrolled on line 1"},
      {Hex(1) + " 1,2\n\n" + Hex(2) + " 2\n",
       "allow.txt:3: client id 2 is already enrolled for key 01010101... on line 1"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(AllowList::Parse(c.text, "allow.txt"),
                StatusIs(absl::StatusCode::kInvalidArgument, c.message))
        << c.text;
  }
}

TEST(AllowListTest, EmptyListIsValidAndAdmitsNobody) {
  absl::StatusOr<AllowList> list = AllowList::Parse("# nobody yet\n", "a");
  ASSERT_THAT(list, IsOk());
  EXPECT_EQ(list->size(), 0u);
  EXPECT_FALSE(list->IsEnrolled(Key(1), 0));
}

TEST(AllowListFileTest, ReloadsWhenTheFileChangesAndKeepsTheOldListOnErrors) {
  fedge::testing::TempDir dir;
  const std::string path = dir.File("allow.txt");
  ASSERT_THAT(WriteFileAtomically(path, Hex(1) + " 1\n"), IsOk());
  absl::StatusOr<std::unique_ptr<AllowListFile>> file = AllowListFile::Open(path);
  ASSERT_THAT(file, IsOk());
  EXPECT_TRUE((*file)->Current()->IsEnrolled(Key(1), 1));

  // Unchanged: nothing re-read.
  EXPECT_THAT((*file)->ReloadIfChanged(), IsOk());
  EXPECT_EQ((*file)->reloads(), 0u);

  // Replaced (as fedge-keygen enrol does): picked up.
  ASSERT_THAT(WriteFileAtomically(path, Hex(1) + " 1\n" + Hex(2) + " 2\n"), IsOk());
  EXPECT_THAT((*file)->ReloadIfChanged(), IsOk());
  EXPECT_EQ((*file)->reloads(), 1u);
  EXPECT_TRUE((*file)->Current()->IsEnrolled(Key(2), 2));

  // A broken edit is refused with its line; the previous list stays.
  ASSERT_THAT(WriteFileAtomically(path, Hex(3) + " 3\nnot a key\n"), IsOk());
  EXPECT_THAT((*file)->ReloadIfChanged(),
              StatusIs(absl::StatusCode::kInvalidArgument, "allow.txt:2:"));
  EXPECT_TRUE((*file)->Current()->IsEnrolled(Key(2), 2));
  EXPECT_FALSE((*file)->Current()->IsEnrolled(Key(3), 3));
  // Until the file changes again the same error stands (and is not re-logged).
  EXPECT_THAT((*file)->ReloadIfChanged(),
              StatusIs(absl::StatusCode::kInvalidArgument, "allow.txt:2:"));
  EXPECT_EQ((*file)->reloads(), 1u);

  // A deleted file keeps the previous list too.
  ASSERT_EQ(::unlink(path.c_str()), 0);
  EXPECT_THAT((*file)->ReloadIfChanged(), StatusIs(absl::StatusCode::kNotFound));
  EXPECT_TRUE((*file)->Current()->IsEnrolled(Key(2), 2));

  // Fixed: picked up again; a key removed from the file is gone.
  ASSERT_THAT(WriteFileAtomically(path, Hex(3) + " 3\n"), IsOk());
  EXPECT_THAT((*file)->ReloadIfChanged(), IsOk());
  EXPECT_TRUE((*file)->Current()->IsEnrolled(Key(3), 3));
  EXPECT_FALSE((*file)->Current()->IsEnrolled(Key(2), 2));
}

TEST(AllowListFileTest, ForcedReloadRereadsAnUnchangedFile) {
  fedge::testing::TempDir dir;
  const std::string path = dir.File("allow.txt");
  ASSERT_THAT(WriteFileAtomically(path, Hex(1) + " 1\n"), IsOk());
  absl::StatusOr<std::unique_ptr<AllowListFile>> file = AllowListFile::Open(path);
  ASSERT_THAT(file, IsOk());
  EXPECT_THAT((*file)->ReloadIfChanged(/*force=*/true), IsOk());
  EXPECT_EQ((*file)->reloads(), 1u);
}

TEST(AllowListFileTest, OpenFailsOnAMissingOrBrokenFile) {
  fedge::testing::TempDir dir;
  EXPECT_THAT(AllowListFile::Open(dir.File("none.txt")), StatusIs(absl::StatusCode::kNotFound));
  ASSERT_THAT(WriteFileAtomically(dir.File("bad.txt"), "zz 1\n"), IsOk());
  EXPECT_THAT(AllowListFile::Open(dir.File("bad.txt")),
              StatusIs(absl::StatusCode::kInvalidArgument, "bad.txt:1:"));
}

TEST(EnrolDeviceTest, AppendsAndRefusesDuplicateKeysAndClientIds) {
  fedge::testing::TempDir dir;
  const std::string path = dir.File("allow.txt");
  const std::vector<uint64_t> ids_a = {5, 3};
  ASSERT_THAT(EnrolDevice(path, Key(1), ids_a), IsOk());
  const std::vector<uint64_t> ids_b = {4};
  ASSERT_THAT(EnrolDevice(path, Key(2), ids_b), IsOk());
  EXPECT_THAT(EnrolDevice(path, Key(1), ids_b),
              StatusIs(absl::StatusCode::kAlreadyExists, "is already enrolled"));
  const std::vector<uint64_t> ids_c = {6, 3};
  EXPECT_THAT(EnrolDevice(path, Key(3), ids_c),
              StatusIs(absl::StatusCode::kAlreadyExists, "client id 3 is already enrolled"));
  const std::vector<uint64_t> none;
  EXPECT_THAT(EnrolDevice(path, Key(3), none), StatusIs(absl::StatusCode::kInvalidArgument));

  absl::StatusOr<std::string> text = ReadFile(path);
  ASSERT_THAT(text, IsOk());
  EXPECT_EQ(*text, absl::StrCat(Hex(1), " 3,5\n", Hex(2), " 4\n"));
}

TEST(EnrolDeviceTest, LeavesABrokenListUntouched) {
  fedge::testing::TempDir dir;
  const std::string path = dir.File("allow.txt");
  ASSERT_THAT(WriteFileAtomically(path, "garbage\n"), IsOk());
  const std::vector<uint64_t> ids = {1};
  EXPECT_THAT(EnrolDevice(path, Key(1), ids),
              StatusIs(absl::StatusCode::kInvalidArgument, "allow.txt:1:"));
  absl::StatusOr<std::string> text = ReadFile(path);
  ASSERT_THAT(text, IsOk());
  EXPECT_EQ(*text, "garbage\n");
}

TEST(WriteFileAtomicallyTest, AppliesTheRequestedModeEvenOverAStaleTempFile) {
  fedge::testing::TempDir dir;
  const std::string path = dir.File("secret");
  // A world-readable leftover from a crash must not lend its mode.
  ASSERT_THAT(WriteFileAtomically(path + ".tmp.src", "x", 0644), IsOk());
  ASSERT_EQ(::rename((path + ".tmp.src").c_str(), (path + ".tmp").c_str()), 0);
  ASSERT_THAT(WriteFileAtomically(path, "s3cret", 0600), IsOk());
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
}

}  // namespace
}  // namespace fedge::secure
