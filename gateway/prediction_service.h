#ifndef FEDGE_GATEWAY_PREDICTION_SERVICE_H_
#define FEDGE_GATEWAY_PREDICTION_SERVICE_H_

// Gateway inference: devices send PredictRequests to their gateway
// (fedge_gateway_predict in the SDK) and get the newest verified model's
// outputs, batched across devices.
//
// The serving thread hands each PredictRequest frame to OnFrame (a
// FrameHandler the CoordinatorServer routes the kind to), which decodes and
// checks it and queues it, or refuses it at once (NO_MODEL before any model,
// TOO_LARGE, BUSY when the queue is full). One worker thread takes whatever
// requests queued while it ran the previous batch, up to `max_batch`
// examples, and runs them as one Predict call, so a busy gateway batches
// without a batching delay and an idle one answers at once. Encoded replies
// go back to the serving thread (OnLoop, a LoopHook woken by an eventfd),
// the only thread that may send on the socket.
//
// The model comes from the gateway's upstream link (SetModel from
// ClientHostOptions::on_model: every model that passed the root-signature
// and rollback checks) or its model store at start-up; LibTorch is loaded on
// the worker thread when the first request needs it, so a gateway nobody
// asks for predictions stays free of it.

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "base/wake_fd.h"
#include "client/torch_plugin.h"
#include "coordinator/coordinator_server.h"
#include "protocol/codec.h"
#include "protocol/messages.h"

namespace fedge::gateway {

struct PredictionOptions {
  uint32_t max_batch = 32;      // most examples one Predict call runs (1: no batching)
  uint32_t max_queued = 4096;   // most examples waiting; beyond, requests are refused BUSY
  uint32_t max_request = 1024;  // most examples one request may carry (else TOO_LARGE)
  int threads = 1;              // LibTorch threads of the predictor
  protocol::DecodeLimits limits;
  // Where the torch plugin is looked for first (client/torch_plugin.h).
  std::vector<std::string> plugin_dirs;
};

struct PredictionStats {
  uint64_t requests = 0;   // answered with outputs
  uint64_t examples = 0;   // in those
  uint64_t batches = 0;    // Predict calls
  uint64_t refused = 0;    // answered with a reason instead
  uint64_t largest_batch = 0;  // examples
};

// Builds a predictor for a model (the default: the torch plugin's).
using PredictorFactory =
    std::function<absl::StatusOr<std::unique_ptr<client::PluginPredictor>>(
        const protocol::ModelPayload& model)>;

class PredictionService final : public coordinator::FrameHandler,
                                public coordinator::LoopHook {
 public:
  // `outbox` (the server's) must outlive the service. InvalidArgument for
  // options out of range; Internal when the eventfd cannot be made.
  static absl::StatusOr<std::unique_ptr<PredictionService>> Create(
      PredictionOptions options, coordinator::Outbox* outbox, PredictorFactory factory = {});
  ~PredictionService() override;  // stops and joins the worker

  // Any thread: serve `model` from now on (ignored unless newer than the
  // one being served).
  void SetModel(uint64_t version, protocol::ModelPayload model);

  // ---- The serving thread only ----
  void OnFrame(const coordinator::Sender& from, absl::string_view frame, absl::Time now) override;
  int wake_fd() const override { return wake_.fd(); }
  void OnLoop(coordinator::Coordinator&, absl::Time) override { SendFinished(); }
  // Sends the replies the worker finished; returns how many.
  size_t SendFinished();

  PredictionStats stats() const;  // any thread

 private:
  struct Pending {
    std::string peer;
    protocol::PredictRequest request;
  };
  struct Finished {
    std::string peer;
    std::shared_ptr<const std::string> frame;
  };
  struct Model {
    uint64_t version = 0;
    protocol::ModelPayload payload;
  };

  PredictionService(PredictionOptions options, coordinator::Outbox* outbox,
                    PredictorFactory factory, WakeFd wake);
  void Refuse(const std::string& peer, uint64_t request_id, protocol::ErrorCode code,
              std::string message);
  // At most a line a second, counting the rest (a flood must not flood the log).
  void LogRefusal(const std::string& line);
  void Worker();
  // Worker thread: one batch of requests against the newest model.
  void RunBatch(std::vector<Pending> batch);
  // Worker thread: the predictor of the newest model (loading it if it
  // changed), or why there is none.
  absl::Status EnsurePredictor();
  void Post(std::vector<Finished> replies);

  const PredictionOptions options_;
  coordinator::Outbox* const outbox_;
  const PredictorFactory factory_;
  const WakeFd wake_;

  mutable absl::Mutex mu_;
  absl::CondVar work_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<Pending> queue_ ABSL_GUARDED_BY(mu_);
  uint64_t queued_examples_ ABSL_GUARDED_BY(mu_) = 0;
  std::shared_ptr<const Model> model_ ABSL_GUARDED_BY(mu_);  // the newest set
  // The largest request frame model_ can take (0: no model, or no input size).
  size_t max_request_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<Finished> finished_ ABSL_GUARDED_BY(mu_);
  PredictionStats stats_ ABSL_GUARDED_BY(mu_);

  // The worker thread's own.
  std::unique_ptr<client::PluginPredictor> predictor_;
  uint64_t predictor_version_ = 0;
  uint64_t failed_version_ = 0;  // the version whose predictor failed to load
  absl::Status load_error_;

  // The serving thread's own.
  absl::Time last_refusal_log_ = absl::InfinitePast();
  uint64_t refusals_unlogged_ = 0;

  std::thread worker_;  // last: started once the rest is built
};

}  // namespace fedge::gateway

#endif  // FEDGE_GATEWAY_PREDICTION_SERVICE_H_
