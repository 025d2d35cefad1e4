#ifndef FEDGE_TESTS_CLIENT_SIGNED_MODEL_FIXTURE_H_
#define FEDGE_TESTS_CLIENT_SIGNED_MODEL_FIXTURE_H_

// A three-weight model for the tests of what verifies coordinator signatures
// (the model store's verifier, the model gate): the first weight tells
// models apart.

#include "protocol/model_payload.h"

namespace fedge::client::fixtures {

inline protocol::ModelPayload ThreeWeightModel(float first_weight) {
  protocol::ModelPayload m;
  m.manifest.tensors = {{"w", {3}, protocol::DType::kFloat32}};
  m.architecture_id = "builtin:mlp";
  m.weights = {first_weight, 2, 3};
  return m;
}

}  // namespace fedge::client::fixtures

#endif  // FEDGE_TESTS_CLIENT_SIGNED_MODEL_FIXTURE_H_
