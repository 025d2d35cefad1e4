#ifndef FEDGE_TESTS_TESTING_TRAINED_MODEL_H_
#define FEDGE_TESTS_TESTING_TRAINED_MODEL_H_

// A built-in model trained centrally on `data` with the LibTorch trainer, so
// tests get weights that are not the initialisation (exports, teachers).
// Links fedge_torch.

#include <string>

#include <gtest/gtest.h>

#include "client/architecture.h"
#include "client/trainer.h"
#include "protocol/model_payload.h"
#include "tests/testing/status_matchers.h"

namespace fedge::testing {

inline protocol::ModelPayload TrainedModel(const std::string& model_flag,
                                           const protocol::TaskSpec& task,
                                           const data::Dataset& data, uint32_t epochs,
                                           float learning_rate) {
  absl::StatusOr<protocol::ModelPayload> model = client::MakeInitialModel(model_flag, 1, task);
  EXPECT_THAT(model, IsOk());
  if (!model.ok()) return {};
  protocol::Task t;
  t.model = *model;
  t.config.local_epochs = epochs;
  t.config.batch_size = 10;
  t.config.learning_rate = learning_rate;
  client::TrainOutcome out;
  EXPECT_THAT(client::MakeTorchTrainer()->Train(t, data, nullptr, &out), IsOk());
  for (size_t i = 0; i < out.delta.size(); ++i) model->weights[i] += out.delta[i];
  return *std::move(model);
}

}  // namespace fedge::testing

#endif  // FEDGE_TESTS_TESTING_TRAINED_MODEL_H_
