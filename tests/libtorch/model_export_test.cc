#include "data/source.h"
#include "libtorch/model_export.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <random>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/script.h>

#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "client/architecture.h"
#include "client/model_file.h"
#include "libtorch/torch_model.h"
#include "client/trainer.h"
#include "tests/testing/idx_writer.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/trained_model.h"
#include "tests/testing/temp_dir.h"

namespace fedge::client {
namespace {

using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;
using ::testing::HasSubstr;

constexpr size_t kPixels = 28 * 28;  // the built-ins' input (the Fashion-MNIST task)

Dataset Synthetic(uint32_t n) {
  fedge::testing::TempDir dir;
  fedge::testing::WriteSyntheticIdx(dir.path(), "train", n);
  absl::StatusOr<Dataset> d = data::LoadDataset(dir.path(), data::SourceOptions{"train"});
  EXPECT_THAT(d, IsOk());
  return *std::move(d);
}

// `model_flag` trained for a few batches, so its weights are not the init.
protocol::ModelPayload Trained(const std::string& model_flag, uint32_t examples) {
  return fedge::testing::TrainedModel(model_flag, protocol::TaskSpec(), Synthetic(examples), 2,
                                      0.1f);
}

// `n` images in [0, 1]: the synthetic classes' bright bands plus noise, and
// every fourth one pure noise.
std::vector<float> Images(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> noise(0.0f, 0.3f), uniform(0.0f, 1.0f);
  std::vector<float> images(n * kPixels);
  for (size_t i = 0; i < n; ++i) {
    float* img = images.data() + i * kPixels;
    const size_t band = (i % 10) * 2;
    for (size_t p = 0; p < kPixels; ++p) {
      const size_t row = p / 28;
      img[p] = i % 4 == 3 ? uniform(rng)
                          : std::min(1.0f, noise(rng) + (row >= band && row < band + 3 ? 0.8f : 0));
    }
  }
  return images;
}

std::vector<float> InProcessLogits(const protocol::ModelPayload& model,
                                   const std::vector<float>& images) {
  auto torch_model = TorchModel::Create(Architecture{model.architecture_id, model.architecture});
  EXPECT_THAT(torch_model, IsOk());
  EXPECT_THAT((*torch_model)->SetWeights(model.weights), IsOk());
  (*torch_model)->SetTraining(false);
  torch::NoGradGuard no_grad;
  const int64_t n = static_cast<int64_t>(images.size() / kPixels);
  torch::Tensor y = (*torch_model)
                        ->Forward(torch::from_blob(const_cast<float*>(images.data()),
                                                   {n, 1, 28, 28}, torch::kFloat32))
                        .contiguous();
  return std::vector<float>(y.data_ptr<float>(), y.data_ptr<float>() + y.numel());
}

std::vector<float> PredictAll(Predictor& p, const std::vector<float>& images) {
  const size_t n = images.size() / kPixels;
  std::vector<float> scores(n * p.output_size());
  EXPECT_THAT(p.Predict(images, n, absl::MakeSpan(scores)), IsOk());
  return scores;
}

std::vector<int> ArgMax(const std::vector<float>& scores, size_t classes) {
  std::vector<int> out;
  for (size_t i = 0; i < scores.size(); i += classes) {
    out.push_back(static_cast<int>(std::max_element(&scores[i], &scores[i] + classes) -
                                   &scores[i]));
  }
  return out;
}

int64_t FileSize(const std::string& path) {
  absl::StatusOr<FileStamp> s = StatFile(path);
  EXPECT_THAT(s, IsOk());
  return s.ok() ? s->size : -1;
}

class BuiltinExportTest : public ::testing::TestWithParam<std::string> {};

TEST_P(BuiltinExportTest, FloatFileReproducesTheInProcessLogits) {
  const protocol::ModelPayload model = Trained(GetParam(), 40);
  fedge::testing::TempDir dir;
  const std::string path = dir.File("model.pt");
  ASSERT_THAT(ExportTorchScript(model, path), IsOk());
  absl::StatusOr<std::unique_ptr<Predictor>> p = Predictor::Load(path);
  ASSERT_THAT(p, IsOk());
  EXPECT_FALSE((*p)->quantized());
  EXPECT_EQ((*p)->output_size(), 10u);
  EXPECT_EQ((*p)->input_size(), kPixels);

  const std::vector<float> images = Images(37, 7);
  const std::vector<float> want = InProcessLogits(model, images);
  const std::vector<float> got = PredictAll(**p, images);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-5) << "logit " << i;
  // One at a time too (batch 1 is the device's usual call).
  std::vector<float> one(10);
  ASSERT_THAT((*p)->Predict(absl::MakeConstSpan(images).subspan(5 * kPixels, kPixels), 1,
                            absl::MakeSpan(one)),
              IsOk());
  for (size_t c = 0; c < 10; ++c) EXPECT_NEAR(one[c], want[50 + c], 1e-5);
}

TEST_P(BuiltinExportTest, PredictorFromModelNeedsNoFile) {
  const protocol::ModelPayload model = Trained(GetParam(), 20);
  absl::StatusOr<std::unique_ptr<Predictor>> p = Predictor::FromModel(model);
  ASSERT_THAT(p, IsOk());
  const std::vector<float> images = Images(6, 9);
  const std::vector<float> want = InProcessLogits(model, images), got = PredictAll(**p, images);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-5) << "logit " << i;

  protocol::ModelPayload corrupt = model;
  corrupt.weights.pop_back();
  EXPECT_THAT(Predictor::FromModel(corrupt), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_P(BuiltinExportTest, ExportReplacesAnExistingFileWholly) {
  const protocol::ModelPayload model = Trained(GetParam(), 20);
  fedge::testing::TempDir dir;
  const std::string path = dir.File("model.pt");
  std::ofstream(path) << "an older, unrelated file";
  ASSERT_THAT(ExportTorchScript(model, path), IsOk());
  EXPECT_THAT(Predictor::Load(path), IsOk());
  EXPECT_THAT(StatFile(path + ".tmp"), StatusIs(absl::StatusCode::kNotFound));
}

INSTANTIATE_TEST_SUITE_P(Builtins, BuiltinExportTest, ::testing::Values("mlp", "cnn"),
                         [](const auto& p) { return p.param; });

class Int8ExportTest
    : public ::testing::TestWithParam<std::tuple<std::string, std::string>> {};

TEST_P(Int8ExportTest, IsSmallerAndAgreesWithFloat) {
  const auto& [model_flag, engine] = GetParam();
  const protocol::ModelPayload model = Trained(model_flag, 100);
  fedge::testing::TempDir dir;
  const std::string float_path = dir.File("model.pt"), int8_path = dir.File("model.int8.pt");
  ASSERT_THAT(ExportTorchScript(model, float_path), IsOk());
  ASSERT_THAT(ExportQuantizedInt8(model, int8_path, {engine}), IsOk());

  // Linear weights are ~all of both models; int8 stores them in a quarter of
  // the bytes (the cnn's float convolutions keep it from a full 4x).
  const int64_t float_bytes = FileSize(float_path), int8_bytes = FileSize(int8_path);
  EXPECT_GT(float_bytes, static_cast<int64_t>(model.weights.size() * 4));
  EXPECT_LT(int8_bytes * 3, float_bytes) << float_bytes << " vs " << int8_bytes;

  auto f = Predictor::Load(float_path);
  auto q = Predictor::Load(int8_path);
  ASSERT_THAT(f, IsOk());
  ASSERT_THAT(q, IsOk());
  EXPECT_TRUE((*q)->quantized());
  EXPECT_EQ((*q)->engine(), engine);
  const std::vector<float> images = Images(400, 11);
  const std::vector<float> fs = PredictAll(**f, images), qs = PredictAll(**q, images);
  const std::vector<int> fa = ArgMax(fs, 10), qa = ArgMax(qs, 10);
  size_t same = 0;
  for (size_t i = 0; i < fa.size(); ++i) same += fa[i] == qa[i];
  EXPECT_GE(same, fa.size() * 95 / 100) << same << " of " << fa.size();
  // Logits stay close, not merely their argmax (7-bit activations matter on
  // the x86 engines: without them the error is ~10x larger).
  double max_err = 0, max_logit = 0;
  for (size_t i = 0; i < fs.size(); ++i) {
    max_err = std::max<double>(max_err, std::fabs(fs[i] - qs[i]));
    max_logit = std::max<double>(max_logit, std::fabs(fs[i]));
  }
  RecordProperty("agreement", absl::StrCat(same, "/", fa.size()));
  RecordProperty("max_err_over_max_logit", absl::StrCat(max_err / max_logit));
  EXPECT_LT(max_err, 0.05 * max_logit) << "max logit " << max_logit;
  EXPECT_GT(max_err, 0.0) << "int8 logits equal float ones: not quantised?";
}

std::vector<std::tuple<std::string, std::string>> Int8Cases() {
  std::vector<std::tuple<std::string, std::string>> cases;
  for (const std::string& engine : SupportedQuantizedEngines()) {
    for (const char* model : {"mlp", "cnn"}) cases.emplace_back(model, engine);
  }
  return cases;
}
INSTANTIATE_TEST_SUITE_P(ModelsAndEngines, Int8ExportTest, ::testing::ValuesIn(Int8Cases()),
                         [](const auto& p) {
                           return std::get<0>(p.param) + "_" + std::get<1>(p.param);
                         });

TEST(Int8ExportTest, EnginesIncludeQnnpack) {
  EXPECT_THAT(SupportedQuantizedEngines(), ::testing::Contains("qnnpack"));
}

TEST(Int8ExportTest, RefusesUnknownEngines) {
  const protocol::ModelPayload model = *MakeInitialModel("mlp", 1, protocol::TaskSpec());
  fedge::testing::TempDir dir;
  EXPECT_THAT(ExportQuantizedInt8(model, dir.File("m.pt"), {"tpu"}),
              StatusIs(absl::StatusCode::kFailedPrecondition, "unknown quantized engine"));
  EXPECT_THAT(StatFile(dir.File("m.pt")), StatusIs(absl::StatusCode::kNotFound));
}

TEST(ModelExportTest, RefusesPayloadsThatDoNotFitTheirArchitecture) {
  protocol::ModelPayload model = *MakeInitialModel("mlp", 1, protocol::TaskSpec());
  fedge::testing::TempDir dir;
  const std::string path = dir.File("m.pt");

  protocol::ModelPayload wrong_arch = model;
  wrong_arch.architecture_id = "builtin:cnn";
  wrong_arch.architecture = "cnn";
  EXPECT_THAT(ExportTorchScript(wrong_arch, path),
              StatusIs(absl::StatusCode::kInvalidArgument, "manifest"));
  protocol::ModelPayload short_weights = model;
  short_weights.weights.pop_back();
  EXPECT_THAT(ExportQuantizedInt8(short_weights, path),
              StatusIs(absl::StatusCode::kInvalidArgument));
  protocol::ModelPayload no_bytes = model;
  no_bytes.architecture_id = "torchscript:00";
  no_bytes.architecture.clear();
  EXPECT_THAT(ExportTorchScript(no_bytes, path),
              StatusIs(absl::StatusCode::kInvalidArgument, "without its TorchScript"));
  EXPECT_THAT(StatFile(path), StatusIs(absl::StatusCode::kNotFound));

  // A built-in's name may be omitted (a model store keeps slim payloads).
  protocol::ModelPayload slim = model;
  slim.architecture.clear();
  EXPECT_THAT(ExportTorchScript(slim, path), IsOk());
}

TEST(PredictorTest, MissingCorruptOrTruncatedFilesAreErrors) {
  fedge::testing::TempDir dir;
  EXPECT_THAT(Predictor::Load(dir.File("absent.pt")),
              StatusIs(absl::StatusCode::kNotFound, "absent.pt"));

  std::ofstream(dir.File("junk.pt")) << "this is not a zip archive";
  EXPECT_THAT(Predictor::Load(dir.File("junk.pt")),
              StatusIs(absl::StatusCode::kDataLoss, "junk.pt"));
  std::ofstream(dir.File("empty.pt")).flush();
  EXPECT_THAT(Predictor::Load(dir.File("empty.pt")), StatusIs(absl::StatusCode::kDataLoss));

  const protocol::ModelPayload model = *MakeInitialModel("mlp", 1, protocol::TaskSpec());
  for (bool int8 : {false, true}) {
    const std::string path = dir.File(int8 ? "q.pt" : "f.pt");
    ASSERT_THAT(int8 ? ExportQuantizedInt8(model, path) : ExportTorchScript(model, path), IsOk());
    absl::StatusOr<std::string> bytes = ReadFile(path);
    ASSERT_THAT(bytes, IsOk());
    std::ofstream(dir.File("half.pt"), std::ios::binary | std::ios::trunc)
        << bytes->substr(0, bytes->size() / 2);
    EXPECT_THAT(Predictor::Load(dir.File("half.pt")), StatusIs(absl::StatusCode::kDataLoss));
  }
}

TEST(PredictorTest, RefusesAModuleThatBreaksTheContract) {
  torch::jit::Module identity("__torch__.Identity");
  identity.define("def forward(self, x: Tensor) -> Tensor:\n    return x\n");
  fedge::testing::TempDir dir;
  identity.save(dir.File("identity.pt"));
  EXPECT_THAT(Predictor::Load(dir.File("identity.pt")),
              StatusIs(absl::StatusCode::kInvalidArgument, "[1, classes] logits"));
}

TEST(PredictorTest, WrongSizesAreInvalidArguments) {
  fedge::testing::TempDir dir;
  ASSERT_THAT(ExportTorchScript(*MakeInitialModel("mlp", 1, protocol::TaskSpec()), dir.File("m.pt")), IsOk());
  auto p = Predictor::Load(dir.File("m.pt"));
  ASSERT_THAT(p, IsOk());
  std::vector<float> images(2 * kPixels), scores(20);
  EXPECT_THAT((*p)->Predict(images, 2, absl::MakeSpan(scores)), IsOk());
  EXPECT_THAT((*p)->Predict(images, 3, absl::MakeSpan(scores)),
              StatusIs(absl::StatusCode::kInvalidArgument, "needs 2352 input floats"));
  EXPECT_THAT((*p)->Predict(images, 2, absl::MakeSpan(scores).subspan(1)),
              StatusIs(absl::StatusCode::kInvalidArgument, "needs 20 output floats"));
  EXPECT_THAT((*p)->Predict({}, 0, {}), StatusIs(absl::StatusCode::kInvalidArgument));
}

// A model of a non-image task (30 features, binary; a TorchScript module
// built here): the predictor feeds [N, 30] and returns one logit per example,
// from the payload and from the exported file, which records the task.
TEST(PredictorTest, TakesTheInputShapeAndOutputSizeFromTheTask) {
  fedge::testing::TempDir dir;
  torch::jit::Module linear("__torch__.Linear30");
  linear.register_parameter("weight", torch::randn({1, 30}), false);
  linear.register_parameter("bias", torch::zeros({1}), false);
  linear.define(
      "def forward(self, x: Tensor) -> Tensor:\n"
      "    return torch.linear(x, self.weight, self.bias)\n");
  linear.save(dir.File("linear30.pt"));
  protocol::TaskSpec task;
  ASSERT_THAT(protocol::ParseTarget("binary", "task", &task), IsOk());
  task.input_shape = {30};
  absl::StatusOr<protocol::ModelPayload> model = MakeInitialModel(dir.File("linear30.pt"), 1, task);
  ASSERT_THAT(model, IsOk());
  auto from_model = Predictor::FromModel(*model);
  ASSERT_THAT(from_model, IsOk());
  EXPECT_EQ((*from_model)->input_size(), 30u);
  EXPECT_EQ((*from_model)->output_size(), 1u);
  ASSERT_THAT(ExportTorchScript(*model, dir.File("exported.pt")), IsOk());
  auto loaded = Predictor::Load(dir.File("exported.pt"));
  ASSERT_THAT(loaded, IsOk());
  EXPECT_EQ((*loaded)->task(), task);

  std::vector<float> x(3 * 30);
  for (size_t i = 0; i < x.size(); ++i) x[i] = 0.01f * static_cast<float>(i % 37);
  std::vector<float> a(3), b(3);
  ASSERT_THAT((*from_model)->Predict(x, 3, absl::MakeSpan(a)), IsOk());
  ASSERT_THAT((*loaded)->Predict(x, 3, absl::MakeSpan(b)), IsOk());
  auto in_process = TorchModel::Create(Architecture{model->architecture_id, model->architecture});
  ASSERT_THAT(in_process, IsOk());
  ASSERT_THAT((*in_process)->SetWeights(model->weights), IsOk());
  torch::NoGradGuard no_grad;
  torch::Tensor want = (*in_process)->Forward(torch::from_blob(x.data(), {3, 30})).reshape({3});
  for (int i = 0; i < 3; ++i) {
    EXPECT_NEAR(a[i], want[i].item<float>(), 1e-5);
    EXPECT_NEAR(b[i], want[i].item<float>(), 1e-5);
  }
  EXPECT_THAT((*loaded)->Predict(x, 3, absl::MakeSpan(a).subspan(1)),
              StatusIs(absl::StatusCode::kInvalidArgument, "needs 3 output floats"));
  EXPECT_THAT((*loaded)->Predict(absl::MakeConstSpan(x).subspan(1), 3, absl::MakeSpan(a)),
              StatusIs(absl::StatusCode::kInvalidArgument, "examples of [30] needs 90 input"));

  // The same module read as the Fashion-MNIST task does not take its inputs.
  protocol::ModelPayload as_images = *model;
  as_images.task = protocol::FashionMnistTask();
  EXPECT_THAT(Predictor::FromModel(as_images),
              StatusIs(absl::StatusCode::kInvalidArgument, "does not take inputs [N,1,28,28]"));
}

// fedge-export on a model-store file, as a deployment pipeline would run it.
TEST(ExportToolTest, ExportsAModelStoreFile) {
  protocol::ModelPayload model = Trained("mlp", 20);
  model.architecture.clear();  // stored slim, as the store may keep it
  fedge::testing::TempDir dir;
  absl::StatusOr<std::string> file = EncodeModelFile(7, model, "");
  ASSERT_THAT(file, IsOk());
  ASSERT_THAT(WriteFileAtomically(dir.File("model-7.fms"), *file), IsOk());
  const std::string tool = absl::StrCat(FEDGE_BIN_DIR, "/fedge-export --model_file=");
  const std::string out = absl::StrCat(" --out=", dir.File("m.pt"), " --int8 >", dir.File("log"),
                                       " 2>&1");
  ASSERT_EQ(std::system(absl::StrCat(tool, dir.File("model-7.fms"), out).c_str()), 0)
      << ReadFile(dir.File("log")).value_or("");
  auto p = Predictor::Load(dir.File("m.pt"));
  ASSERT_THAT(p, IsOk());
  const std::vector<float> images = Images(8, 5);
  model.architecture = "mlp";
  const std::vector<float> want = InProcessLogits(model, images), got = PredictAll(**p, images);
  for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-5) << "logit " << i;
  auto q = Predictor::Load(dir.File("m.int8.pt"));
  ASSERT_THAT(q, IsOk());
  EXPECT_TRUE((*q)->quantized());

  // A damaged store file is refused and nothing is written.
  std::string damaged = *file;
  damaged[damaged.size() / 2] ^= 1;
  ASSERT_THAT(WriteFileAtomically(dir.File("model-8.fms"), damaged), IsOk());
  const std::string out2 = absl::StrCat(" --out=", dir.File("m8.pt"), " >", dir.File("log"),
                                        " 2>&1");
  EXPECT_NE(std::system(absl::StrCat(tool, dir.File("model-8.fms"), out2).c_str()), 0);
  EXPECT_THAT(ReadFile(dir.File("log")).value_or(""), HasSubstr("model-8.fms"));
  EXPECT_THAT(StatFile(dir.File("m8.pt")), StatusIs(absl::StatusCode::kNotFound));
}

// Exported by examples/export_torchscript.py (CTest fixture).
TEST(TorchScriptExportTest, FloatExportCarriesTheFederatedWeights) {
  const char* path = std::getenv("FEDGE_TEST_TORCHSCRIPT");
  if (path == nullptr) GTEST_SKIP() << "FEDGE_TEST_TORCHSCRIPT not set";
  const protocol::ModelPayload model = Trained(path, 40);
  fedge::testing::TempDir dir;
  ASSERT_THAT(ExportTorchScript(model, dir.File("m.pt")), IsOk());
  auto p = Predictor::Load(dir.File("m.pt"));
  ASSERT_THAT(p, IsOk());
  const std::vector<float> images = Images(12, 3);
  const std::vector<float> want = InProcessLogits(model, images), got = PredictAll(**p, images);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-5) << "logit " << i;
  EXPECT_THAT(ExportQuantizedInt8(model, dir.File("q.pt")),
              StatusIs(absl::StatusCode::kUnimplemented, "quantize_dynamic"));
}

// A BatchNorm model's federated running statistics are in the exported file:
// its predictions equal the federated model's in eval mode, and differ from
// those with the initial statistics.
TEST(TorchScriptExportTest, BatchNormStatisticsReachTheExportedFile) {
  const char* path = std::getenv("FEDGE_TEST_TORCHSCRIPT_BN");
  if (path == nullptr) GTEST_SKIP() << "FEDGE_TEST_TORCHSCRIPT_BN not set";
  const protocol::ModelPayload model = Trained(path, 40);
  fedge::testing::TempDir dir;
  ASSERT_THAT(ExportTorchScript(model, dir.File("bn.pt")), IsOk());
  auto p = Predictor::Load(dir.File("bn.pt"));
  ASSERT_THAT(p, IsOk());
  const std::vector<float> images = Images(12, 3);
  const std::vector<float> want = InProcessLogits(model, images), got = PredictAll(**p, images);
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-4) << "logit " << i;
  protocol::ModelPayload initial_stats = model;
  absl::StatusOr<protocol::ModelPayload> fresh = MakeInitialModel(path, 0, protocol::TaskSpec());
  ASSERT_THAT(fresh, IsOk());
  size_t offset = 0;
  for (const protocol::TensorSpec& t : model.manifest.tensors) {
    if (t.role != protocol::TensorRole::kParameter) {
      std::copy_n(fresh->weights.begin() + offset, t.NumElements(),
                  initial_stats.weights.begin() + offset);
    }
    offset += t.NumElements();
  }
  const std::vector<float> stale = InProcessLogits(initial_stats, images);
  double diff = 0;
  for (size_t i = 0; i < got.size(); ++i) diff += std::fabs(stale[i] - got[i]);
  EXPECT_GT(diff / got.size(), 1e-2);
}

}  // namespace
}  // namespace fedge::client
