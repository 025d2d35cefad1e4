// fedge-distill as a user runs it: a signed student a device's model store
// accepts, labels never read, usage errors that exit 2 naming the flag.

#include <sys/wait.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <torch/script.h>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/file_system.h"
#include "base/file_util.h"
#include "libtorch/model_export.h"
#include "client/model_file.h"
#include "client/model_store.h"
#include "client/signature_model_verifier.h"
#include "libtorch/torch_model.h"
#include "client/trainer.h"
#include "data/source.h"
#include "distill/signed_model_file.h"
#include "protocol/model_signature.h"
#include "secure/key_files.h"
#include "tests/testing/idx_writer.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/trained_model.h"
#include "tests/testing/temp_dir.h"

namespace fedge::distill {
namespace {

using ::fedge::testing::IsOk;
using ::fedge::testing::StatusIs;
using ::testing::HasSubstr;

constexpr uint64_t kTeacherVersion = 3;

struct Outcome {
  int exit_code = -1;
  std::string stderr_text;
};

class FedgeDistillTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(dir_.path().empty());
    data_ = dir_.File("data");
    ASSERT_THAT(MakeDirs(data_), IsOk());
    fedge::testing::WriteSyntheticIdx(data_, "train", 300);
    fedge::testing::WriteSyntheticIdx(data_, "t10k", 100);
    absl::StatusOr<secure::CoordinatorKey> key =
        secure::GenerateCoordinatorKey(secure::SecureRandom::Default());
    ASSERT_THAT(key, IsOk());
    ASSERT_THAT(secure::WriteCoordinatorKeyFile(dir_.File("coordinator.key"), *key), IsOk());
    ASSERT_THAT(secure::WriteCoordinatorIdentityFile(dir_.File("coordinator.pub"),
                                                     secure::PublicPart(*key)),
                IsOk());
    coordinator_ = secure::PublicPart(*key);
    absl::StatusOr<std::unique_ptr<protocol::ModelSigner>> signer =
        SignerFromKeyFile(dir_.File("coordinator.key"));
    ASSERT_THAT(signer, IsOk());
    signer_ = *std::move(signer);
    teacher_ = TrainedTeacher();
    absl::StatusOr<std::string> file = EncodeSignedModelFile(kTeacherVersion, teacher_, *signer_);
    ASSERT_THAT(file, IsOk());
    ASSERT_THAT(WriteFileAtomically(dir_.File("teacher.fms"), *file), IsOk());
  }

  // An mlp that learned the synthetic classes (one epoch, with labels).
  protocol::ModelPayload TrainedTeacher() {
    absl::StatusOr<data::Dataset> train = data::LoadDataset(data_, {"train"});
    EXPECT_THAT(train, IsOk());
    if (!train.ok()) return {};
    return fedge::testing::TrainedModel("mlp", protocol::FashionMnistTask(), *train, 1, 0.05f);
  }

  // The flags every run shares: the teacher, the data, a short distillation.
  std::vector<std::string> Base() const {
    return {"--teacher=" + dir_.File("teacher.fms"), "--data=" + data_, "--evaluate=",
            "--epochs=2", "--batch_size=16", "--out=" + dir_.File("student.pt")};
  }

  Outcome Run(const std::vector<std::string>& flags) const {
    const std::string err = dir_.File("stderr.txt");
    const std::string command = absl::StrCat(FEDGE_BIN_DIR, "/fedge-distill ",
                                             absl::StrJoin(flags, " "), " >/dev/null 2>", err);
    const int status = std::system(command.c_str());
    Outcome o;
    o.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    o.stderr_text = ReadFile(err).value_or("");
    return o;
  }

  fedge::testing::TempDir dir_;
  std::string data_;
  secure::CoordinatorIdentity coordinator_;
  std::unique_ptr<protocol::ModelSigner> signer_;
  protocol::ModelPayload teacher_;
};

std::vector<std::string> With(std::vector<std::string> flags,
                              const std::vector<std::string>& more) {
  flags.insert(flags.end(), more.begin(), more.end());
  return flags;
}

TEST_F(FedgeDistillTest, SignedStudentReachesADeviceStoreAndATamperedOneDoesNot) {
  const std::string student_file = dir_.File("student.fms");
  const Outcome run = Run(With(Base(), {"--int8", "--evaluate=" + data_,
                                        "--key_file=" + dir_.File("coordinator.key"),
                                        "--save_model_file=" + student_file}));
  ASSERT_EQ(run.exit_code, 0) << run.stderr_text;
  absl::StatusOr<std::string> bytes = ReadFile(student_file);
  ASSERT_THAT(bytes, IsOk());
  absl::StatusOr<client::ModelFile> student = client::DecodeModelFile(*bytes, bytes->size() + 1);
  ASSERT_THAT(student, IsOk());
  EXPECT_EQ(student->version, kTeacherVersion + 1);  // above the teacher's: no rollback
  EXPECT_EQ(student->payload.architecture_id, "builtin:mlp");
  EXPECT_EQ(student->payload.task, teacher_.task);

  absl::StatusOr<std::unique_ptr<protocol::ModelVerifier>> pinned =
      protocol::ModelVerifier::Create(coordinator_.signing_public);
  ASSERT_THAT(pinned, IsOk());
  EXPECT_THAT((*pinned)->Verify(student->version, student->payload, {student->signature}), IsOk());
  protocol::ModelPayload tampered = student->payload;
  tampered.weights[123] += 0.01f;
  EXPECT_THAT((*pinned)->Verify(student->version, tampered, {student->signature}),
              StatusIs(absl::StatusCode::kUnauthenticated));
  absl::StatusOr<secure::CoordinatorKey> other =
      secure::GenerateCoordinatorKey(secure::SecureRandom::Default());
  ASSERT_THAT(other, IsOk());
  auto other_verifier = protocol::ModelVerifier::Create(other->signing_public);
  EXPECT_THAT((*other_verifier)->Verify(student->version, student->payload, {student->signature}),
              StatusIs(absl::StatusCode::kUnauthenticated));

  // A device store holding the teacher: the student dropped in becomes its
  // current model; a tampered copy (valid digest, old signature) is skipped.
  const client::SignatureModelVerifier device_verifier(*std::move(pinned));
  const std::string teacher_name = client::ModelStore::FileName(kTeacherVersion);
  const std::string student_name = client::ModelStore::FileName(kTeacherVersion + 1);
  absl::StatusOr<std::string> teacher_file = ReadFile(dir_.File("teacher.fms"));
  ASSERT_THAT(teacher_file, IsOk());
  absl::StatusOr<std::string> tampered_file =
      client::EncodeModelFile(student->version, tampered, student->signature);
  ASSERT_THAT(tampered_file, IsOk());
  for (const bool tamper : {false, true}) {
    const std::string store_dir = dir_.File(tamper ? "store-tampered" : "store");
    ASSERT_THAT(MakeDirs(store_dir), IsOk());
    ASSERT_THAT(WriteFileAtomically(store_dir + "/" + teacher_name, *teacher_file), IsOk());
    ASSERT_THAT(WriteFileAtomically(store_dir + "/" + student_name,
                                    tamper ? *tampered_file : *bytes),
                IsOk());
    auto store = client::ModelStore::Open(store_dir, PosixFileSystem::Default(), &device_verifier);
    ASSERT_THAT(store, IsOk());
    auto current = (*store)->Current();
    ASSERT_THAT(current, IsOk());
    EXPECT_EQ((*current)->version, tamper ? kTeacherVersion : kTeacherVersion + 1);
    EXPECT_EQ((*current)->payload.weights, tamper ? teacher_.weights : student->payload.weights);
  }
  // The TorchScript exports load as a device loads them.
  for (const std::string& file : {dir_.File("student.pt"), dir_.File("student.int8.pt")}) {
    auto predictor = client::Predictor::Load(file);
    ASSERT_THAT(predictor, IsOk()) << file;
    EXPECT_EQ((*predictor)->output_size(), 10u);
  }
}

TEST_F(FedgeDistillTest, LabelsAreNeverConsulted) {
  // A copy of the data whose train labels are garbage: a reader of labels
  // would fail or learn differently; the student must come out identical.
  const std::string garbled = dir_.File("garbled");
  ASSERT_THAT(MakeDirs(garbled), IsOk());
  for (const char* name : {"train-images-idx3-ubyte.gz", "t10k-images-idx3-ubyte.gz",
                           "t10k-labels-idx1-ubyte.gz"}) {
    ASSERT_THAT(WriteFileAtomically(garbled + "/" + name, *ReadFile(data_ + "/" + name)), IsOk());
  }
  ASSERT_THAT(WriteFileAtomically(garbled + "/train-labels-idx1-ubyte.gz", "\x01garbage"),
              IsOk());
  std::vector<std::string> students;
  for (const std::string& data : {data_, garbled}) {
    const std::string out = dir_.File("student.fms");
    const Outcome run = Run(With(Base(), {"--data=" + data, "--seed=7", "--save_model_file=" + out,
                                          "--key_file=" + dir_.File("coordinator.key")}));
    ASSERT_EQ(run.exit_code, 0) << run.stderr_text;
    students.push_back(*ReadFile(out));
  }
  EXPECT_EQ(students[0], students[1]);
  // And the students did learn something from the teacher (not a no-op).
  absl::StatusOr<client::ModelFile> decoded =
      client::DecodeModelFile(students[0], students[0].size() + 1);
  ASSERT_THAT(decoded, IsOk());
  absl::StatusOr<protocol::ModelPayload> fresh =
      client::MakeInitialModel("mlp", 7, protocol::FashionMnistTask());
  EXPECT_NE(decoded->payload.weights, fresh->weights);
}

// A TorchScript model: `outputs` logits of `inputs` features.
std::string WriteLinear(const std::string& path, int64_t inputs, int64_t outputs) {
  torch::jit::Module m("__torch__.Linear");
  m.register_parameter("weight", torch::zeros({inputs, outputs}), false);
  m.define(absl::StrCat("def forward(self, x):\n    return x.reshape([x.size(0), ", inputs,
                        "]).matmul(self.weight)\n"));
  m.save(path);
  return path;
}

TEST_F(FedgeDistillTest, UsageErrorsExitTwoNamingTheFlag) {
  // A binary classifier of 30 features as a teacher: no soft labels there.
  protocol::TaskSpec binary;
  binary.input_shape = {30};
  binary.target = protocol::TargetKind::kBinary;
  binary.num_classes = 0;
  binary.loss = protocol::LossKind::kBceWithLogits;
  absl::StatusOr<protocol::ModelPayload> bc =
      client::InitialModelPayload(WriteLinear(dir_.File("bc.pt"), 30, 1), 0, binary);
  ASSERT_THAT(bc, IsOk());
  ASSERT_THAT(WriteFileAtomically(dir_.File("bc.fms"), *client::EncodeModelFile(1, *bc, "")),
              IsOk());
  const std::string five = WriteLinear(dir_.File("five.pt"), 784, 5);
  const std::string ten = WriteLinear(dir_.File("ten.pt"), 784, 10);
  const std::string key = "--key_file=" + dir_.File("coordinator.key");
  const std::string save = "--save_model_file=" + dir_.File("s.fms");
  struct Case {
    std::vector<std::string> flags;
    std::string says;
  };
  const std::vector<Case> cases = {
      {{"--teacher=" + dir_.File("absent.fms")}, "--teacher="},
      {{"--teacher=" + dir_.File("bc.fms")}, "classes:K"},
      {{"--student=" + five}, "--student="},
      {{"--student=" + dir_.File("absent.pt")}, "--student"},
      {{"--student=" + ten, "--int8"}, "--int8"},
      {{"--data=" + dir_.File("absent")}, "--data="},
      {{"--unlabelled_examples=1000"}, "--unlabelled_examples"},
      {{"--unlabelled_offset=-1"}, "--unlabelled_offset="},
      {{"--temperature=0"}, "--temperature="},
      {{"--lr=-1"}, "--lr="},
      {{"--optimizer=rmsprop"}, "--optimizer="},
      {{save}, "--key_file"},
      {{save, "--key_file=" + dir_.File("coordinator.pub")}, "--key_file="},
      {{save, key, "--version=3"}, "--version="},
      {{"--evaluate=" + dir_.File("absent")}, "--evaluate="},
      {{"--qengine=nonesuch"}, "--qengine="},
      {{"--no_such_flag=1"}, "no_such_flag"},
      {{"stray_argument"}, "stray_argument"},
  };
  for (const Case& c : cases) {
    const Outcome run = Run(With(Base(), c.flags));
    EXPECT_EQ(run.exit_code, 2) << absl::StrJoin(c.flags, " ") << ": " << run.stderr_text;
    EXPECT_THAT(run.stderr_text, HasSubstr(c.says)) << absl::StrJoin(c.flags, " ");
  }
  EXPECT_EQ(Run({}).exit_code, 2);  // no --teacher
  EXPECT_THAT(StatFile(dir_.File("student.pt")), StatusIs(absl::StatusCode::kNotFound))
      << "a usage error wrote output";
  EXPECT_EQ(Run({"--help"}).exit_code, 0);
}

}  // namespace
}  // namespace fedge::distill
