#ifndef FEDGE_SIMULATIONS_SIM_FLAGS_H_
#define FEDGE_SIMULATIONS_SIM_FLAGS_H_

// fedge-sim's own flags (its --help lists them with the strategy, task,
// evaluation and attack flags it shares).

#include <cstdint>
#include <string>

#include "absl/flags/declare.h"
#include "absl/time/time.h"

ABSL_DECLARE_FLAG(std::string, model);
ABSL_DECLARE_FLAG(std::string, http_listen);
ABSL_DECLARE_FLAG(std::string, device_profile);
ABSL_DECLARE_FLAG(std::string, progress);
ABSL_DECLARE_FLAG(double, target_accuracy);
ABSL_DECLARE_FLAG(int, gateways);
ABSL_DECLARE_FLAG(int, clients);
ABSL_DECLARE_FLAG(int, rounds);
ABSL_DECLARE_FLAG(int, local_epochs);
ABSL_DECLARE_FLAG(int, batch_size);
ABSL_DECLARE_FLAG(double, lr);
ABSL_DECLARE_FLAG(std::string, partition);
ABSL_DECLARE_FLAG(std::string, partition_file);
ABSL_DECLARE_FLAG(uint64_t, seed);
ABSL_DECLARE_FLAG(std::string, out);
ABSL_DECLARE_FLAG(int, clients_per_process);
ABSL_DECLARE_FLAG(int, train_threads);
ABSL_DECLARE_FLAG(std::string, connections);
ABSL_DECLARE_FLAG(int, clients_per_round);
ABSL_DECLARE_FLAG(double, fraction);
ABSL_DECLARE_FLAG(std::string, transport);
ABSL_DECLARE_FLAG(std::string, data_dir);
ABSL_DECLARE_FLAG(std::string, train_data);
ABSL_DECLARE_FLAG(std::string, test_data);
ABSL_DECLARE_FLAG(double, holdout);
ABSL_DECLARE_FLAG(int, max_examples);
ABSL_DECLARE_FLAG(absl::Duration, round_timeout);
ABSL_DECLARE_FLAG(absl::Duration, timeout);
ABSL_DECLARE_FLAG(bool, insecure);
ABSL_DECLARE_FLAG(std::string, secure);
ABSL_DECLARE_FLAG(double, secagg_dropout);
ABSL_DECLARE_FLAG(double, secagg_clip);
ABSL_DECLARE_FLAG(double, over_select);
ABSL_DECLARE_FLAG(double, kill_clients);
ABSL_DECLARE_FLAG(std::string, kill_phase);
ABSL_DECLARE_FLAG(int, kill_round);
ABSL_DECLARE_FLAG(double, stragglers);
ABSL_DECLARE_FLAG(absl::Duration, straggler_delay);
ABSL_DECLARE_FLAG(int, kill_coordinator_at_round);
ABSL_DECLARE_FLAG(int, kill_coordinator_after_updates);
ABSL_DECLARE_FLAG(absl::Duration, heartbeat_interval);
ABSL_DECLARE_FLAG(std::string, launcher);
ABSL_DECLARE_FLAG(int, mpi_port);
ABSL_DECLARE_FLAG(std::string, advertise_host);
ABSL_DECLARE_FLAG(bool, report);

#endif  // FEDGE_SIMULATIONS_SIM_FLAGS_H_
