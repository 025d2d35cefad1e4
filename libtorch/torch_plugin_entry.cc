// The symbols libfedge_torch_plugin.so exports (see torch_plugin.h).

#include "libtorch/model_export.h"
#include "client/torch_plugin.h"
#include "client/trainer.h"

namespace {

class ExportedPredictor final : public fedge::client::PluginPredictor {
 public:
  explicit ExportedPredictor(std::unique_ptr<fedge::client::Predictor> p) : p_(std::move(p)) {}
  absl::Status Predict(absl::Span<const float> inputs, size_t n,
                       absl::Span<float> outputs) override {
    return p_->Predict(inputs, n, outputs);
  }
  size_t input_size() const override { return p_->input_size(); }
  size_t output_size() const override { return p_->output_size(); }

 private:
  std::unique_ptr<fedge::client::Predictor> p_;
};

}  // namespace

extern "C" __attribute__((visibility("default"))) fedge::client::Trainer*
fedge_torch_plugin_make_trainer(int threads, int keep_models) {
  try {
    fedge::client::TorchTrainerOptions options;
    options.threads = threads;
    options.keep_models = keep_models != 0;
    return fedge::client::MakeTorchTrainer(options).release();
  } catch (...) {
    return nullptr;  // nothing crosses the module boundary as an exception
  }
}

extern "C" __attribute__((visibility("default"))) fedge::client::PluginPredictor*
fedge_torch_plugin_make_predictor(const fedge::protocol::ModelPayload* model, int threads,
                                  absl::Status* status) {
  try {
    fedge::client::PredictorOptions options;
    options.threads = threads;
    auto p = fedge::client::Predictor::FromModel(*model, options);
    if (!p.ok()) {
      *status = p.status();
      return nullptr;
    }
    return new ExportedPredictor(*std::move(p));
  } catch (...) {
    *status = absl::InternalError("the torch plugin threw building a predictor");
    return nullptr;
  }
}
