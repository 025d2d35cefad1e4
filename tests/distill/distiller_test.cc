#include "distill/distiller.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/script.h>
#include <torch/torch.h>

#include "libtorch/torch_model.h"
#include "client/trainer.h"
#include "data/source.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/trained_model.h"
#include "tests/testing/temp_dir.h"

namespace fedge::distill {
namespace {

using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;
using ::testing::HasSubstr;

constexpr char kFashionMnist[] = "/usr/share/datasets/fashion-mnist";

// Real Fashion-MNIST, split so that no image is used twice: the teacher
// learns from labelled train images [0, 2000), the student sees train images
// [2000, 4000) without labels, both are scored on the first 1000 test images.
struct Split {
  data::Dataset labelled;         // teacher training
  data::UnlabelledData unlabelled;  // distillation
  data::Dataset test;
};

std::optional<Split> LoadSplit() {
  if (::access(kFashionMnist, R_OK) != 0) return std::nullopt;
  absl::StatusOr<data::Dataset> train = data::LoadDataset(kFashionMnist, {"train"});
  absl::StatusOr<data::Dataset> test = data::LoadDataset(kFashionMnist, {"t10k"});
  EXPECT_THAT(train, IsOk());
  EXPECT_THAT(test, IsOk());
  std::vector<int64_t> first(2000), second(2000);
  for (int64_t i = 0; i < 2000; ++i) first[i] = i, second[i] = 2000 + i;
  std::vector<int64_t> scored(1000);
  for (int64_t i = 0; i < 1000; ++i) scored[i] = i;
  Split s;
  s.labelled = *data::Subset(*train, first);
  const data::Dataset images = *data::Subset(*train, second);
  s.unlabelled.example_shape = images.example_shape;
  s.unlabelled.storage = images.storage;
  s.unlabelled.bytes = images.bytes;  // the bytes only: the type has no targets
  s.test = *data::Subset(*test, scored);
  return s;
}

const Split* SharedSplit() {
  static const std::optional<Split>* split = new std::optional<Split>(LoadSplit());
  return split->has_value() ? &**split : nullptr;
}

// Argmax predictions of `model` on `test`'s images.
std::vector<int64_t> Predict(const protocol::ModelPayload& model, const data::Dataset& test) {
  auto built = client::TorchModel::Create({model.architecture_id, model.architecture});
  EXPECT_THAT(built, IsOk());
  EXPECT_THAT((*built)->SetWeights(model.weights), IsOk());
  (*built)->SetTraining(false);
  torch::NoGradGuard no_grad;
  torch::Tensor x = torch::from_blob(const_cast<uint8_t*>(test.bytes.data()),
                                     {test.size(), 1, 28, 28}, torch::kUInt8)
                        .to(torch::kFloat32)
                        .div_(255.0f);
  torch::Tensor argmax = (*built)->Forward(x).argmax(1).contiguous();
  return std::vector<int64_t>(argmax.data_ptr<int64_t>(),
                              argmax.data_ptr<int64_t>() + argmax.numel());
}

double Accuracy(const std::vector<int64_t>& predicted, const data::Dataset& test) {
  int64_t correct = 0;
  for (size_t i = 0; i < predicted.size(); ++i) correct += predicted[i] == test.Target(i);
  return static_cast<double>(correct) / static_cast<double>(predicted.size());
}

double Agreement(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  int64_t same = 0;
  for (size_t i = 0; i < a.size(); ++i) same += a[i] == b[i];
  return static_cast<double>(same) / static_cast<double>(a.size());
}

// An mlp trained with labels for one epoch on 2000 images (200 steps).
protocol::ModelPayload TinyTeacher(const data::Dataset& labelled) {
  return fedge::testing::TrainedModel("mlp", protocol::FashionMnistTask(), labelled, 1, 0.05f);
}

// A TorchScript student: one linear layer, `classes` logits of 784 pixels.
std::string WriteLinearModule(const std::string& path, int64_t classes) {
  torch::jit::Module m("__torch__.LinearStudent");
  torch::manual_seed(3);
  m.register_parameter("weight", torch::randn({classes, 784}) * 0.01, false);
  m.register_parameter("bias", torch::zeros({classes}), false);
  m.define(R"JIT(
def forward(self, x):
    return x.reshape([x.size(0), 784]).matmul(self.weight.t()) + self.bias
)JIT");
  m.save(path);
  return path;
}

TEST(DistillerTest, StudentLearnsTheTeacherFromUnlabelledImages) {
  const Split* split = SharedSplit();
  if (split == nullptr) GTEST_SKIP() << kFashionMnist << " is not installed";
  const protocol::ModelPayload teacher = TinyTeacher(split->labelled);
  const std::vector<int64_t> teacher_says = Predict(teacher, split->test);
  const double teacher_accuracy = Accuracy(teacher_says, split->test);
  ASSERT_GT(teacher_accuracy, 0.55) << "the teacher itself did not learn";

  absl::StatusOr<protocol::ModelPayload> student = MakeStudent("mlp", 2, teacher.task);
  ASSERT_THAT(student, IsOk());
  const double fresh = Accuracy(Predict(*student, split->test), split->test);
  DistillOptions options;
  options.epochs = 10;
  options.temperature = 4;
  absl::StatusOr<DistillReport> report = Distill(teacher, split->unlabelled, options, &*student);
  ASSERT_THAT(report, IsOk());
  ASSERT_EQ(report->epochs.size(), 10u);
  EXPECT_EQ(report->examples, 2000);
  EXPECT_LT(report->epochs.back().mean_loss, report->epochs.front().mean_loss / 2);

  const std::vector<int64_t> student_says = Predict(*student, split->test);
  const double accuracy = Accuracy(student_says, split->test);
  EXPECT_LT(fresh, 0.3) << "an untrained student should be near chance (0.1)";
  std::printf("teacher %.3f, fresh student %.3f, distilled student %.3f, agreement %.3f\n",
              teacher_accuracy, fresh, accuracy, Agreement(student_says, teacher_says));
  EXPECT_GT(accuracy, 0.55);
  EXPECT_GT(accuracy, teacher_accuracy - 0.05) << "teacher " << teacher_accuracy;
  EXPECT_GT(Agreement(student_says, teacher_says), 0.85);
}

TEST(DistillerTest, ATorchScriptStudentLearnsToo) {
  const Split* split = SharedSplit();
  if (split == nullptr) GTEST_SKIP() << kFashionMnist << " is not installed";
  fedge::testing::TempDir dir;
  const protocol::ModelPayload teacher = TinyTeacher(split->labelled);
  absl::StatusOr<protocol::ModelPayload> student =
      MakeStudent(WriteLinearModule(dir.File("linear.pt"), 10), 0, teacher.task);
  ASSERT_THAT(student, IsOk());
  EXPECT_THAT(student->architecture_id, HasSubstr("torchscript:"));
  DistillOptions options;
  options.epochs = 5;
  options.learning_rate = 0.02;
  ASSERT_THAT(Distill(teacher, split->unlabelled, options, &*student), IsOk());
  const std::vector<int64_t> says = Predict(*student, split->test);
  std::printf("linear student %.3f, agreement %.3f\n", Accuracy(says, split->test),
              Agreement(says, Predict(teacher, split->test)));
  EXPECT_GT(Accuracy(says, split->test), 0.5);
  EXPECT_GT(Agreement(says, Predict(teacher, split->test)), 0.8);
}

TEST(DistillerTest, SameSeedSameStudent) {
  const Split* split = SharedSplit();
  if (split == nullptr) GTEST_SKIP() << kFashionMnist << " is not installed";
  const protocol::ModelPayload teacher = TinyTeacher(split->labelled);
  DistillOptions options;
  options.epochs = 1;
  std::vector<std::vector<float>> weights;
  for (int run = 0; run < 2; ++run) {
    absl::StatusOr<protocol::ModelPayload> student = MakeStudent("mlp", 5, teacher.task);
    ASSERT_THAT(student, IsOk());
    ASSERT_THAT(Distill(teacher, split->unlabelled, options, &*student), IsOk());
    weights.push_back(student->weights);
  }
  EXPECT_EQ(weights[0], weights[1]);
}

TEST(DistillerTest, StudentWithOtherOutputsIsRefusedNamingTheFlag) {
  fedge::testing::TempDir dir;
  absl::StatusOr<protocol::ModelPayload> five =
      MakeStudent(WriteLinearModule(dir.File("five.pt"), 5), 0, protocol::FashionMnistTask());
  EXPECT_THAT(five, StatusIs(absl::StatusCode::kInvalidArgument, "--student="));
  EXPECT_THAT(five.status().message(), HasSubstr("classes:10"));
  EXPECT_THAT(MakeStudent(dir.File("missing.pt"), 0, protocol::FashionMnistTask()),
              StatusIs(absl::StatusCode::kInvalidArgument, "--student"));
}

TEST(DistillerTest, OnlyClassifiersAreDistilled) {
  absl::StatusOr<protocol::ModelPayload> teacher =
      client::MakeInitialModel("mlp", 0, protocol::FashionMnistTask());
  ASSERT_THAT(teacher, IsOk());
  EXPECT_THAT(CheckTeacher(*teacher), IsOk());
  protocol::ModelPayload binary = *teacher;
  binary.task.target = protocol::TargetKind::kBinary;
  binary.task.num_classes = 0;
  binary.task.loss = protocol::LossKind::kBceWithLogits;
  EXPECT_THAT(CheckTeacher(binary),
              StatusIs(absl::StatusCode::kInvalidArgument, "classes:K"));
  protocol::ModelPayload student = *teacher;
  data::UnlabelledData examples;
  examples.example_shape = {1, 28, 28};
  examples.features.assign(784 * 4, 0.5f);
  EXPECT_THAT(Distill(binary, examples, {}, &student),
              StatusIs(absl::StatusCode::kInvalidArgument, "classes:K"));
}

TEST(DistillerTest, ExamplesOfAnotherShapeAreRefusedBeforeTraining) {
  absl::StatusOr<protocol::ModelPayload> teacher =
      client::MakeInitialModel("mlp", 0, protocol::FashionMnistTask());
  ASSERT_THAT(teacher, IsOk());
  protocol::ModelPayload student = *teacher;
  data::UnlabelledData examples;
  examples.example_shape = {30};
  examples.features.assign(30 * 8, 0.5f);
  EXPECT_THAT(Distill(*teacher, examples, {}, &student),
              StatusIs(absl::StatusCode::kInvalidArgument, "[30]"));
  EXPECT_EQ(student.weights, teacher->weights);
  DistillOptions bad;
  bad.temperature = 0;
  examples.example_shape = {1, 28, 28};
  examples.features.assign(784 * 4, 0.5f);
  EXPECT_THAT(Distill(*teacher, examples, bad, &student),
              StatusIs(absl::StatusCode::kInvalidArgument, "temperature"));
}

}  // namespace
}  // namespace fedge::distill
