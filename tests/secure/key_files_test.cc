#include "secure/key_files.h"

#include <sys/stat.h>

#include <string>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_replace.h"
#include "base/file_util.h"
#include "tests/secure/fake_random.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace fedge::secure {
namespace {

using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

std::string Text(const SecretBytes& b) {
  return std::string(reinterpret_cast<const char*>(b.data()), b.size());
}

mode_t ModeOf(const std::string& path) {
  struct stat st;
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

TEST(KeyFilesTest, DeviceKeyRoundTripsThroughAnOwnerOnlyFile) {
  testing::SeededRandom random(1);
  absl::StatusOr<DeviceKey> key = GenerateDeviceKey(random);
  ASSERT_THAT(key, IsOk());
  fedge::testing::TempDir dir;
  const std::string path = dir.File("dev.key");
  ASSERT_THAT(WriteDeviceKeyFile(path, *key), IsOk());
  EXPECT_EQ(ModeOf(path), 0600u);
  absl::StatusOr<DeviceKey> back = ReadDeviceKeyFile(path);
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(back->curve_public, key->curve_public);
  EXPECT_TRUE(back->curve_secret.Equals(key->curve_secret.span()));
  // The public key is the one X25519 derives from the secret.
  absl::StatusOr<X25519KeyPair> pair = X25519KeyPair::FromPrivateKey(back->curve_secret.span());
  ASSERT_THAT(pair, IsOk());
  EXPECT_EQ(pair->public_key(), key->curve_public);

  ASSERT_THAT(WriteDevicePublicKeyFile(dir.File("dev.pub"), PublicPart(*key)), IsOk());
  EXPECT_EQ(ModeOf(dir.File("dev.pub")), 0644u);
  absl::StatusOr<DevicePublicKey> pub = ReadDevicePublicKeyFile(dir.File("dev.pub"));
  ASSERT_THAT(pub, IsOk());
  EXPECT_EQ(pub->curve_public, key->curve_public);
}

TEST(KeyFilesTest, CoordinatorKeyAndIdentityRoundTrip) {
  testing::SeededRandom random(2);
  absl::StatusOr<CoordinatorKey> key = GenerateCoordinatorKey(random);
  ASSERT_THAT(key, IsOk());
  fedge::testing::TempDir dir;
  ASSERT_THAT(WriteCoordinatorKeyFile(dir.File("c.key"), *key), IsOk());
  EXPECT_EQ(ModeOf(dir.File("c.key")), 0600u);
  absl::StatusOr<CoordinatorKey> back = ReadCoordinatorKeyFile(dir.File("c.key"));
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(back->curve_public, key->curve_public);
  EXPECT_EQ(back->signing_public, key->signing_public);
  EXPECT_TRUE(back->curve_secret.Equals(key->curve_secret.span()));
  EXPECT_TRUE(back->signing_secret.Equals(key->signing_secret.span()));

  ASSERT_THAT(WriteCoordinatorIdentityFile(dir.File("c.pub"), PublicPart(*key)), IsOk());
  absl::StatusOr<CoordinatorIdentity> id = ReadCoordinatorIdentityFile(dir.File("c.pub"));
  ASSERT_THAT(id, IsOk());
  EXPECT_EQ(id->curve_public, key->curve_public);
  EXPECT_EQ(id->signing_public, key->signing_public);
  // The public identity holds no secret.
  absl::StatusOr<std::string> text = ReadFile(dir.File("c.pub"));
  ASSERT_THAT(text, IsOk());
  EXPECT_THAT(*text, Not(HasSubstr("secret ")));
}

TEST(KeyFilesTest, SecretFileReadableByOthersIsRefused) {
  testing::SeededRandom random(3);
  absl::StatusOr<DeviceKey> key = GenerateDeviceKey(random);
  ASSERT_THAT(key, IsOk());
  fedge::testing::TempDir dir;
  const std::string path = dir.File("dev.key");
  ASSERT_THAT(WriteDeviceKeyFile(path, *key), IsOk());
  for (mode_t mode : {0640, 0604, 0660, 0644}) {
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
    EXPECT_THAT(ReadDeviceKeyFile(path),
                StatusIs(absl::StatusCode::kPermissionDenied, "chmod 600"))
        << std::oct << mode;
  }
  ASSERT_EQ(::chmod(path.c_str(), 0400), 0);
  EXPECT_THAT(ReadDeviceKeyFile(path), IsOk());
}

TEST(KeyFilesTest, WrongFileTypeIsNamed) {
  testing::SeededRandom random(4);
  absl::StatusOr<DeviceKey> key = GenerateDeviceKey(random);
  ASSERT_THAT(key, IsOk());
  const std::string pub = FormatDevicePublicKey(PublicPart(*key));
  // Passing NAME.pub where NAME.key is wanted says so.
  EXPECT_THAT(ParseDeviceKey(pub, "dev.pub"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "dev.pub:3: this is a 'device-public' key file, want a 'device' one"));
  EXPECT_THAT(ParseCoordinatorIdentity(pub, "dev.pub"),
              StatusIs(absl::StatusCode::kInvalidArgument, "want a 'coordinator-public'"));
}

TEST(KeyFilesTest, MalformedFilesFailWithFileAndLine) {
  testing::SeededRandom random(5);
  absl::StatusOr<DeviceKey> key = GenerateDeviceKey(random);
  ASSERT_THAT(key, IsOk());
  const std::string good = Text(FormatDeviceKey(*key));
  ASSERT_THAT(ParseDeviceKey(good, "k"), IsOk());
  const std::string pub_hex = PublicKeyHex(key->curve_public);

  struct Case {
    std::string text;
    absl::StatusCode code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {"", absl::StatusCode::kInvalidArgument, "k: empty"},
      {"hello\n", absl::StatusCode::kInvalidArgument, "k:1: not a fedge key file"},
      {"# c\nfedge-key-file v2\n", absl::StatusCode::kFailedPrecondition,
       "k:2: key file version 'v2' is not supported"},
      {absl::StrReplaceAll(good, {{"type device", "type device\nflavour x"}}),
       absl::StatusCode::kInvalidArgument, "k:4: unknown field 'flavour'"},
      {absl::StrReplaceAll(good, {{"curve_public " + pub_hex, "curve_public " + pub_hex.substr(1)}}),
       absl::StatusCode::kInvalidArgument, "k:4: curve_public: want 64 hex digits, got 63"},
      {absl::StrReplaceAll(good, {{"curve_public " + pub_hex, "curve_public z" + pub_hex.substr(1)}}),
       absl::StatusCode::kInvalidArgument, "k:4: curve_public: character 1 is not a hex digit"},
      {absl::StrReplaceAll(good, {{"type device\n", "type device\ntype device\n"}}),
       absl::StatusCode::kInvalidArgument, "k:4: field 'type' appears twice"},
      {absl::StrReplaceAll(good, {{"curve_public " + pub_hex + "\n", ""}}),
       absl::StatusCode::kInvalidArgument, "k: missing field 'curve_public'"},
      {absl::StrReplaceAll(good, {{"curve_public " + pub_hex, "curve_public"}}),
       absl::StatusCode::kInvalidArgument, "k:4: want 'name value'"},
      {absl::StrReplaceAll(good, {{"curve_public " + pub_hex, "curve_public " + pub_hex + " x"}}),
       absl::StatusCode::kInvalidArgument, "k:4: field 'curve_public' has more than one value"},
      // A public key that does not belong to the secret one.
      {absl::StrReplaceAll(good, {{"curve_public " + pub_hex,
                                   "curve_public " + std::string(64, '1')}}),
       absl::StatusCode::kInvalidArgument, "curve_public does not match curve_secret"},
  };
  for (const Case& c : cases) {
    EXPECT_THAT(ParseDeviceKey(c.text, "k"), StatusIs(c.code, c.message)) << c.text;
  }
}

TEST(KeyFilesTest, ErrorsNeverQuoteSecretMaterial) {
  testing::SeededRandom random(6);
  absl::StatusOr<CoordinatorKey> key = GenerateCoordinatorKey(random);
  ASSERT_THAT(key, IsOk());
  const std::string good = Text(FormatCoordinatorKey(*key));
  const std::string secret_hex = PublicKeyHex(key->curve_secret.span());
  // The secret on a line of its own, and a secret one digit short.
  for (const std::string& bad :
       {absl::StrReplaceAll(good, {{"curve_secret " + secret_hex, secret_hex + " x"}}),
        absl::StrReplaceAll(good, {{"curve_secret " + secret_hex,
                                    "curve_secret " + secret_hex.substr(1)}})}) {
    absl::StatusOr<CoordinatorKey> parsed = ParseCoordinatorKey(bad, "c.key");
    ASSERT_FALSE(parsed.ok());
    EXPECT_THAT(std::string(parsed.status().message()), Not(HasSubstr(secret_hex.substr(1, 16))));
  }
}

TEST(KeyFilesTest, CommentsBlankLinesAndCrLfAreAccepted) {
  testing::SeededRandom random(7);
  absl::StatusOr<DeviceKey> key = GenerateDeviceKey(random);
  ASSERT_THAT(key, IsOk());
  std::string text = "\n# leading comment\n\n" + Text(FormatDeviceKey(*key));
  text = absl::StrReplaceAll(text, {{"\n", "\r\n"}});
  EXPECT_THAT(ParseDeviceKey(text, "k"), IsOk());
}

TEST(KeyFilesTest, PublicKeyHexRoundTrips) {
  std::array<uint8_t, 32> key{};
  for (size_t i = 0; i < key.size(); ++i) key[i] = static_cast<uint8_t>(i * 9);
  const std::string hex = PublicKeyHex(key);
  EXPECT_EQ(hex.size(), 64u);
  absl::StatusOr<std::array<uint8_t, 32>> back = ParsePublicKeyHex(hex);
  ASSERT_THAT(back, IsOk());
  EXPECT_EQ(*back, key);
  EXPECT_THAT(ParsePublicKeyHex(absl::AsciiStrToUpper(hex)), IsOk());
  EXPECT_THAT(ParsePublicKeyHex(hex.substr(2)), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace fedge::secure
