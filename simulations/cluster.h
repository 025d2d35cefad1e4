#ifndef FEDGE_SIMULATIONS_CLUSTER_H_
#define FEDGE_SIMULATIONS_CLUSTER_H_

// fedge-sim's view of an MPI job (--launcher=mpi): this process's rank, the
// job's size, and the few collective steps a launch needs. MPI is only the
// control plane (who hosts what, the endpoint, public keys, a tally at the
// end); every model byte goes over ZeroMQ. The only file that includes
// mpi.h.

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace fedge::sim {

class Cluster {
 public:
  // MPI_Init. Unavailable when not started by an MPI launcher it knows
  // (a singleton run has size 1, which the caller refuses).
  static absl::StatusOr<std::unique_ptr<Cluster>> Init();
  ~Cluster();  // MPI_Finalize

  int rank() const { return rank_; }
  int size() const { return size_; }
  // This rank's host, as MPI names it.
  const std::string& host() const { return host_; }

  // Rank 0's `*value`, on every rank.
  absl::Status Broadcast(std::string* value);
  // On rank 0, every rank's `mine` by rank; elsewhere an empty vector.
  absl::StatusOr<std::vector<std::string>> Gather(const std::string& mine);

  // Ends every rank of the job (and so their children, which die with
  // their parent); mpirun exits non-zero.
  [[noreturn]] void Abort(int code);

 private:
  Cluster() = default;
  int rank_ = 0;
  int size_ = 1;
  std::string host_;
};

}  // namespace fedge::sim

#endif  // FEDGE_SIMULATIONS_CLUSTER_H_
