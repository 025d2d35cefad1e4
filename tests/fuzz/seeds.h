#ifndef FEDGE_TESTS_FUZZ_SEEDS_H_
#define FEDGE_TESTS_FUZZ_SEEDS_H_

// Valid frames of every message kind: the seed corpus for the fuzz targets.

#include <string>
#include <vector>

#include "protocol/codec.h"

namespace fedge::fuzz {

inline protocol::ModelPayload SeedModel() {
  protocol::ModelPayload m;
  m.manifest.tensors = {{"w", {2, 2}, protocol::DType::kFloat32},
                        {"b", {2}, protocol::DType::kFloat32}};
  m.architecture_id = "builtin:mlp";
  m.architecture = "mlp";
  m.weights = {1, 2, 3, 4, 5, 6};
  return m;
}

inline std::vector<std::string> SeedFrames() {
  using namespace protocol;
  Task task;
  task.round = 1;
  task.model = SeedModel();
  Update update;
  update.round = 1;
  update.client_id = 7;
  update.num_examples = 10;
  update.delta = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f};
  // Only the shape matters to the decoder: 64 bytes where an Ed25519
  // signature goes (protocol/model_signature.h).
  Task signed_task = task;
  signed_task.model_version = 3;
  signed_task.signature.signature = std::string(kModelSignatureSize, '\x42');
  // Secure aggregation: a task that enables it, and every SecAgg body.
  Task secure_task = task;
  secure_task.secure.enabled = true;
  secure_task.secure.config.num_clients = 3;
  secure_task.secure.config.threshold = 2;
  secure_task.secure.config.input_length = 7;
  secure_task.secure.encoding.scale = 1000;
  secure_task.secure.cohort = {7, 8, 9};
  secure::AdvertiseKeys advertise;
  advertise.encryption_key.fill(1);
  advertise.masking_key.fill(2);
  secure::ShareKeysResponse share_keys;
  share_keys.shares.push_back({2, std::vector<uint8_t>(secure::kSecAggShareCiphertextSize, 3)});
  secure::UnmaskingResponse unmasking;
  unmasking.self_mask_shares.push_back({1, {1, 2, 3, 4, 5}});
  unmasking.masking_key_shares.push_back({3, {6, 7, 8, 9, 10}});
  Hello check_in{7, 10, kCapBuiltinModels | kCapCheckIn, "fedge", {"builtin:mlp"}};
  check_in.has_model = true;
  check_in.model_version = 2;
  check_in.registration = 0x5eed;
  // Strategies: buffers and normalisation layers in the manifest, FedProx,
  // norm bounding and FedBN settings, SCAFFOLD's control variates.
  Task strategy_task = task;
  strategy_task.model.manifest.tensors.push_back(
      {"bn.running_mean", {2}, DType::kFloat32, TensorRole::kBuffer, true});
  strategy_task.model.manifest.tensors.push_back(
      {"bn.num_batches_tracked", {}, DType::kFloat32, TensorRole::kCounter, true});
  strategy_task.model.weights = {1, 2, 3, 4, 5, 6, 0.5f, 0.25f, 3};
  strategy_task.config.proximal_mu = 0.01f;
  strategy_task.config.clip_norm = 2.5f;
  strategy_task.config.local_normalization = true;
  strategy_task.control = {0, 0.1f, -0.1f, 0, 0, 0, 0, 0, 0};
  Update scaffold_update = update;
  scaffold_update.control_delta = {0.01f, 0.02f, 0.03f, 0.04f, 0.05f, 0.06f};
  // Gateway inference: a request of two 3-float examples, the reply with
  // their outputs, and a refusal.
  PredictRequest predict{5, 7, 2, {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f}};
  PredictReply predicted;
  predicted.request_id = 5;
  predicted.ok = true;
  predicted.model_version = 3;
  predicted.count = 2;
  predicted.output_size = 2;
  predicted.outputs = {0.9f, 0.1f, 0.2f, 0.8f};
  PredictReply busy;
  busy.request_id = 6;
  busy.ok = false;
  busy.code = ErrorCode::kBusy;
  busy.message = "4096 examples wait already";
  return {
      Encode(Hello{7, 10, kCapBuiltinModels, "fedge", {"builtin:mlp"}}),
      Encode(Welcome{7, 1000, 0}),
      Encode(task),
      Encode(update),
      Encode(ErrorReply{ErrorCode::kWrongRound, 3, "late"}),
      Encode(Heartbeat{7, 1, ClientState::kTraining}),
      Encode(Shutdown{"bye"}),
      // Appended, so earlier indices stay put.
      Encode(signed_task),
      Encode(ErrorReply{ErrorCode::kRollback, 4, "older than version 5"}),
      Encode(secure_task),
      Encode(SecAggToServer{1, 0, 7, advertise}),
      Encode(SecAggToServer{1, 0, 7, share_keys}),
      Encode(SecAggToServer{1, 0, 7, secure::MaskedInput{{1, 2, 3}}}),
      Encode(SecAggToServer{1, 0, 7, unmasking}),
      Encode(SecAggToClient{1, secure::ShareKeysRequest{{{1, {}, {}}, {2, {}, {}}}}}),
      Encode(SecAggToClient{1, secure::MaskedInputRequest{{2}, share_keys.shares}}),
      Encode(SecAggToClient{1, secure::UnmaskingRequest{{1, 2}, {3}}}),
      Encode(SecAggToClient{1, secure::SecAggAbort{"too few"}}),
      Encode(check_in),
      Encode(Leave{7, "check-in over"}),
      Encode(RetryLater{1500, 30000, "not selected"}),
      Encode(GlobalModel{3, signed_task.model, signed_task.signature}),
      Encode(strategy_task),
      Encode(scaffold_update),
      Encode(predict),
      Encode(predicted),
      Encode(busy),
  };
}

}  // namespace fedge::fuzz

#endif  // FEDGE_TESTS_FUZZ_SEEDS_H_
