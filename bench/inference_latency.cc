// fedge-bench-inference: the LibTorch half of the device footprint benchmark
// (bench/device_footprint.cc runs it, one fresh process per measurement).
//
//   fedge-bench-inference init MODEL OUT.fms
//     writes a freshly initialised built-in MODEL (mlp, cnn; seed 0) as a
//     model-store file, the payload the torch-free benchmark trains.
//   fedge-bench-inference latency MODEL.fms VARIANT IMAGES_IDX
//     exports the model (VARIANT: float32, int8:qnnpack, int8:onednn), loads
//     it with Predictor (one thread), and prints per-example latency at batch
//     1 and 32 over the first images of IMAGES_IDX, one `key value` per line.
//
// Latency is the median of 15 blocks (batch 1: 200 calls per block; batch 32:
// 10 calls per block), after 20 warm-up calls. It does not depend on the
// weights' values, so the untrained model is measured.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "base/file_util.h"
#include "base/status_macros.h"
#include "data/idx.h"
#include "libtorch/model_export.h"
#include "client/model_file.h"
#include "client/trainer.h"

namespace fedge {
namespace {

constexpr size_t kMaxModelFile = size_t{1} << 30;

absl::Status Init(const std::string& model, const std::string& out) {
  FEDGE_ASSIGN_OR_RETURN(protocol::ModelPayload payload, client::MakeInitialModel(model, 0, protocol::FashionMnistTask()));
  FEDGE_ASSIGN_OR_RETURN(std::string bytes, client::EncodeModelFile(1, payload, ""));
  return WriteFileAtomically(out, bytes);
}

double NowUs() {
  return std::chrono::duration<double, std::micro>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// Median per-example microseconds of `blocks` blocks of `calls` Predict calls
// on `batch` examples each.
absl::StatusOr<double> MedianPerExampleUs(client::Predictor& p, const std::vector<float>& images,
                                          size_t batch, int calls, int blocks) {
  std::vector<float> in(images.begin(), images.begin() + batch * p.input_size());
  std::vector<float> scores(batch * p.output_size());
  std::vector<double> per_example;
  for (int b = 0; b < blocks; ++b) {
    const double start = NowUs();
    for (int c = 0; c < calls; ++c) {
      FEDGE_RETURN_IF_ERROR(p.Predict(in, batch, absl::MakeSpan(scores)));
    }
    per_example.push_back((NowUs() - start) / (static_cast<double>(calls) * batch));
  }
  std::nth_element(per_example.begin(), per_example.begin() + blocks / 2, per_example.end());
  return per_example[blocks / 2];
}

absl::Status Latency(const std::string& model_path, const std::string& variant,
                     const std::string& images_path) {
  FEDGE_ASSIGN_OR_RETURN(std::string file, ReadFile(model_path, kMaxModelFile));
  FEDGE_ASSIGN_OR_RETURN(client::ModelFile decoded, client::DecodeModelFile(file, kMaxModelFile));
  std::string bytes;
  client::PredictorOptions options;
  options.threads = 1;
  if (variant == "float32") {
    FEDGE_ASSIGN_OR_RETURN(bytes, client::TorchScriptBytes(decoded.payload));
  } else if (absl::StartsWith(variant, "int8:")) {
    client::QuantizeOptions q;
    q.engine = variant.substr(5);
    options.quantized_engine = q.engine;
    FEDGE_ASSIGN_OR_RETURN(bytes, client::QuantizedInt8Bytes(decoded.payload, q));
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unknown variant ", variant));
  }
  const std::string exported = absl::StrCat(model_path, ".", variant == "float32" ? "f32" : "int8",
                                            ".pt");
  FEDGE_RETURN_IF_ERROR(WriteFileAtomically(exported, bytes));
  FEDGE_ASSIGN_OR_RETURN(std::unique_ptr<client::Predictor> p,
                         client::Predictor::Load(exported, options));
  FEDGE_ASSIGN_OR_RETURN(data::IdxArray data, data::ReadIdx(images_path));
  constexpr size_t kBatch = 32;
  const size_t in = p->input_size();
  if (!data.is_uint8 || data.dims.empty() || data.dims[0] < static_cast<int64_t>(kBatch) ||
      data.bytes.size() < kBatch * in) {
    return absl::InvalidArgumentError(
        absl::StrCat(images_path, " has fewer than 32 images of ", in, " pixels"));
  }
  std::vector<float> images(kBatch * in);
  for (size_t i = 0; i < images.size(); ++i) images[i] = data.bytes[i] / 255.0f;
  std::vector<float> scores(p->output_size());
  for (int i = 0; i < 20; ++i) {
    FEDGE_RETURN_IF_ERROR(p->Predict(absl::MakeConstSpan(images.data(), in), 1,
                                     absl::MakeSpan(scores)));
  }
  FEDGE_ASSIGN_OR_RETURN(double b1, MedianPerExampleUs(*p, images, 1, 200, 15));
  FEDGE_ASSIGN_OR_RETURN(double b32, MedianPerExampleUs(*p, images, kBatch, 10, 15));
  std::printf("file_bytes %zu\nengine %s\nbatch1_us %.1f\nbatch32_us %.1f\n", bytes.size(),
              p->engine().empty() ? "-" : p->engine().c_str(), b1, b32);
  return absl::OkStatus();
}

}  // namespace
}  // namespace fedge

int main(int argc, char** argv) {
  absl::Status s;
  if (argc == 4 && std::string(argv[1]) == "init") {
    s = fedge::Init(argv[2], argv[3]);
  } else if (argc == 5 && std::string(argv[1]) == "latency") {
    s = fedge::Latency(argv[2], argv[3], argv[4]);
  } else {
    std::fprintf(stderr,
                 "usage: %s init MODEL OUT.fms | latency MODEL.fms "
                 "float32|int8:qnnpack|int8:onednn IMAGES_IDX\n",
                 argv[0]);
    return 2;
  }
  if (!s.ok()) {
    std::fprintf(stderr, "fedge-bench-inference: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
