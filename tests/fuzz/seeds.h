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
  return {
      Encode(Hello{7, 10, kCapBuiltinModels, "fedge", {"builtin:mlp"}}),
      Encode(Welcome{7, 1000, 0}),
      Encode(task),
      Encode(update),
      Encode(ErrorReply{ErrorCode::kWrongRound, 3, "late"}),
      Encode(Heartbeat{7, 1, ClientState::kTraining}),
      Encode(Shutdown{"bye"}),
  };
}

}  // namespace fedge::fuzz

#endif  // FEDGE_TESTS_FUZZ_SEEDS_H_
