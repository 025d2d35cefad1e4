#ifndef FEDGE_SIMULATIONS_MPI_RUN_H_
#define FEDGE_SIMULATIONS_MPI_RUN_H_

// fedge-sim --launcher=mpi: one simulation over the ranks of an MPI job
// (mpirun, or srun under Slurm), e.g. one rank per host.
//   rank 0    prepares the data and partition, runs fedge-coordinator on all
//             interfaces, collects the results and prints the summary;
//   rank k>0  hosts the client processes of the devices assigned to it
//             (device d to rank 1 + d mod (size-1)).
// MPI carries only the control plane: the assignment, each device's public
// key (rank k makes its own key pairs: no secret crosses MPI), the
// coordinator's endpoint and public key, the partition, and each rank's
// tally at the end. Models and updates go over ZeroMQ, with CURVE, signed
// models and SecAgg as in a local run. A failure on any rank ends the whole
// job at once (MPI_Abort; children die with their parent). Each rank writes
// its files under OUT/rank-K on its own host; every host needs the training
// data at the path given.

#include "absl/status/status.h"

namespace fedge::sim {

absl::Status RunMpi();

}  // namespace fedge::sim

#endif  // FEDGE_SIMULATIONS_MPI_RUN_H_
