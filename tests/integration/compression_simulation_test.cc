// Update compression end to end: fedge-sim with real coordinator and client
// processes over real ZeroMQ on the Debian Fashion-MNIST files. Compressed
// plain updates and a narrower SecAgg ring learn like their float32
// counterparts on the same seed and partition while each client uploads
// what the payload formats predict.

#include <sys/wait.h>

#include <cstdlib>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/file_util.h"
#include "client/model_file.h"
#include "compression/pruning.h"
#include "simulations/results.h"
#include "tests/integration/process_test_util.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace fedge {
namespace {

using ::fedge::testing::IsOk;
using ::testing::HasSubstr;

constexpr char kData[] = "/usr/share/datasets/fashion-mnist";
constexpr double kMlpBytes = 4.0 * 199210;  // one float32 update of the mlp

struct SimRun {
  int status = -1;
  std::string log;
  std::vector<sim::RoundRow> rows;
};

SimRun RunSim(const std::vector<std::string>& extra, std::string* model_file = nullptr) {
  testing::TempDir dir;
  std::vector<std::string> argv = {testing::Bin("fedge-sim"), "--clients=4", "--model=mlp",
                                   "--rounds=2", "--max_examples=4000", "--partition=iid",
                                   "--insecure", "--out=" + dir.path(),
                                   absl::StrCat("--data_dir=", kData)};
  argv.insert(argv.end(), extra.begin(), extra.end());
  const std::string cmd = absl::StrCat(absl::StrJoin(argv, " "), " >", dir.File("log"), " 2>&1");
  SimRun r;
  r.status = std::system(cmd.c_str());
  r.log = ReadFile(dir.File("log")).value_or("");
  absl::StatusOr<std::vector<sim::RoundRow>> rows = sim::ReadMetrics(dir.File("metrics.jsonl"));
  EXPECT_THAT(rows, IsOk());
  if (rows.ok()) r.rows = *rows;
  if (model_file != nullptr) *model_file = ReadFile(dir.File("model.fms")).value_or("");
  return r;
}

// Both rounds completed; the last round's accuracy and one client's upload.
void ExpectCompleted(const SimRun& r, const std::string& what) {
  EXPECT_EQ(r.status, 0) << what << "\n" << r.log;
  ASSERT_EQ(r.rows.size(), 2u) << what << "\n" << r.log;
  EXPECT_TRUE(r.rows[0].completed && r.rows[1].completed) << what;
  EXPECT_GT(r.rows[1].update_bytes_per_client, 0) << what;
}

TEST(CompressionSimulationTest, CompressedUpdatesLearnLikeFloatOnesAndUploadLess) {
  const SimRun plain = RunSim({});
  ASSERT_NO_FATAL_FAILURE(ExpectCompleted(plain, "float32"));
  const double plain_acc = plain.rows[1].test_accuracy;
  EXPECT_GT(plain_acc, 0.4);  // chance is 0.1; 2 short rounds reach ~0.5
  const double plain_bytes = plain.rows[1].update_bytes_per_client;
  EXPECT_NEAR(plain_bytes / kMlpBytes, 1.0, 0.002);
  // (flag, largest upload ratio against float32)
  for (const auto& [flag, ratio] : std::vector<std::pair<std::string, double>>{
           {"--compress=int8", 0.26}, {"--compress=int4", 0.14}, {"--compress=topk:0.1", 0.14}}) {
    const SimRun r = RunSim({flag});
    ASSERT_NO_FATAL_FAILURE(ExpectCompleted(r, flag));
    EXPECT_LE(r.rows[1].update_bytes_per_client / plain_bytes, ratio) << flag;
    // A decoder or quantiser bug shows as a collapse, not a small loss.
    EXPECT_NEAR(r.rows[1].test_accuracy, plain_acc, 0.05) << flag;
    EXPECT_THAT(r.log, HasSubstr(absl::StrCat("(", flag, ")"))) << flag;
  }
}

TEST(CompressionSimulationTest, SecureAggregationInASixteenBitRingHalvesTheUpload) {
  const SimRun wide = RunSim({"--secure=secagg"});
  ASSERT_NO_FATAL_FAILURE(ExpectCompleted(wide, "32-bit SecAgg"));
  const SimRun narrow = RunSim({"--secure=secagg", "--secagg_bits=16"});
  ASSERT_NO_FATAL_FAILURE(ExpectCompleted(narrow, "16-bit SecAgg"));
  const double ratio = static_cast<double>(narrow.rows[1].update_bytes_per_client) /
                       static_cast<double>(wide.rows[1].update_bytes_per_client);
  EXPECT_NEAR(ratio, 0.5, 0.002);
  EXPECT_GT(wide.rows[1].test_accuracy, 0.4);
  EXPECT_NEAR(narrow.rows[1].test_accuracy, wide.rows[1].test_accuracy, 0.02);
}

// --prune: the coordinator prunes the model for round 2 to half of every
// weight matrix; from then on each client uploads only the kept weights
// (plain and inside SecAgg), and the final model, signed with its mask, is
// sparse where the mask says.
TEST(CompressionSimulationTest, PrunedRunsUploadOnlyTheKeptWeights) {
  for (const std::vector<std::string>& extra :
       std::vector<std::vector<std::string>>{{}, {"--secure=secagg"}}) {
    const std::string what = extra.empty() ? "plain" : "secure";
    std::vector<std::string> flags = {"--rounds=3", "--prune=0.5", "--prune_rounds=2:2"};
    flags.insert(flags.end(), extra.begin(), extra.end());
    std::string file;
    SimRun r = RunSim(flags, &file);
    EXPECT_EQ(r.status, 0) << what << "\n" << r.log;
    ASSERT_EQ(r.rows.size(), 3u) << what << "\n" << r.log;
    ASSERT_TRUE(r.rows[2].completed) << what;
    // The mlp's 198,800 matrix weights, half pruned; its 410 biases dense.
    const double kept = 199210 - 0.5 * 198800;
    const double round1 = r.rows[0].update_bytes_per_client;
    const double round3 = r.rows[2].update_bytes_per_client;
    EXPECT_NEAR(round3 / round1, kept / 199210, 0.002) << what;
    EXPECT_GT(r.rows[2].test_accuracy, 0.4) << what;
    absl::StatusOr<client::ModelFile> model = client::DecodeModelFile(file, 64 << 20);
    ASSERT_THAT(model, IsOk()) << what;
    EXPECT_EQ(model->version, 3u);
    ASSERT_EQ(compression::KeptCount(model->payload.mask, model->payload.weights.size()),
              static_cast<uint64_t>(kept)) << what;
    for (size_t i = 0; i < model->payload.weights.size(); ++i) {
      if (!compression::Kept(model->payload.mask, i)) {
        ASSERT_EQ(model->payload.weights[i], 0.0f) << what << " weight " << i;
      }
    }
  }
}

// Impossible pairings fail before any process starts, naming the flags.
TEST(CompressionSimulationTest, ImpossibleCombinationsAreUsageErrors) {
  for (const auto& [flags, says] : std::vector<std::pair<std::vector<std::string>, std::string>>{
           {{"--compress=topk:0.1", "--secure=secagg"}, "--compress=topk:0.1 cannot run with --secure"},
           {{"--compress=int8", "--secure=plus"}, "--compress=int8 cannot run with --secure"},
           {{"--secagg_bits=16"}, "--secagg_bits=16 applies only with --secure"},
           {{"--secagg_bits=4", "--secure=secagg"}, "--secagg_bits=4: want 8 to 32"},
           {{"--secagg_bits=16", "--secure=secagg", "--dp=distributed"},
            "cannot run with --dp=distributed"},
           {{"--compress=gzip"}, "--compress: compression 'gzip'"},
           {{"--compress=topk:2"}, "the fraction must be in (0, 1]"},
           {{"--prune=1"}, "--prune=1: want a sparsity in [0, 1)"},
           {{"--prune=0.5", "--prune_rounds=1:3"}, "--prune_rounds=1:3"},
           {{"--prune_rounds=2:3"}, "--prune_rounds needs --prune"},
           {{"--prune=0.5", "--prune_scope=row"}, "--prune_scope=row: want global or layer"},
           {{"--prune=0.5", "--strategy=scaffold"}, "--prune cannot run with --strategy=scaffold"}}) {
    testing::TempDir dir;
    const std::string cmd = absl::StrCat(testing::Bin("fedge-sim"), " ", absl::StrJoin(flags, " "),
                                         " --out=", dir.path(), " --data_dir=", kData, " >",
                                         dir.File("log"), " 2>&1");
    const int status = std::system(cmd.c_str());
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 2) << absl::StrJoin(flags, " ");
    EXPECT_THAT(ReadFile(dir.File("log")).value_or(""), HasSubstr(says))
        << absl::StrJoin(flags, " ");
  }
}

}  // namespace
}  // namespace fedge
