#include "simulations/sim_flags.h"

#include "absl/flags/flag.h"

ABSL_FLAG(std::string, model, "mlp", "mlp, cnn, or the path of a TorchScript file");
ABSL_FLAG(int, clients, 10, "Number of simulated clients");
ABSL_FLAG(int, rounds, 20, "Federated rounds");
ABSL_FLAG(int, local_epochs, 1, "Local epochs per round (E)");
ABSL_FLAG(int, batch_size, 32, "Local minibatch size (B)");
ABSL_FLAG(double, lr, 0.05, "Client SGD learning rate (no momentum)");
ABSL_FLAG(std::string, partition, "dirichlet:0.5",
          "How to split the training set: iid, dirichlet:ALPHA (label skew) or shards:K "
          "(K label-sorted shards per client)");
ABSL_FLAG(std::string, partition_file, "",
          "Use this partition instead: one line per client of whitespace-separated 0-based "
          "training-set indices");
ABSL_FLAG(uint64_t, seed, 0, "Seed for partitioning, initialisation and shuffling");
ABSL_FLAG(std::string, out, "sim-out", "Directory for metrics.jsonl, results.csv, partition.txt");
ABSL_FLAG(int, clients_per_process, 0,
          "Logical clients hosted by each client process; 0 spreads them over one process "
          "per core");
ABSL_FLAG(int, train_threads, 1,
          "Training threads per client process, each taking the next queued task of any of "
          "the process's clients; with --clients_per_process=0 the clients are spread over "
          "cores / train_threads processes. 2 on 2 cores: one process whose threads finish "
          "each round together (docs/scale.md)");
ABSL_FLAG(std::string, connections, "shared",
          "How a client process reaches the coordinator: 'shared' = one connection per process, "
          "each logical client on a channel of it (one CURVE handshake and socket per process); "
          "'per_client' = one connection per logical client, as real devices have");
ABSL_FLAG(int, clients_per_round, 0,
          "Cohort size per round; 0 = --fraction of the clients. A round closes at its deadline "
          "with at least half its cohort (the quorum), else fails");
ABSL_FLAG(double, fraction, 1.0, "Fraction of clients selected per round (FedAvg's C)");
ABSL_FLAG(std::string, transport, "tcp", "tcp (loopback, free port) or ipc (socket in --out)");
ABSL_FLAG(std::string, data_dir, "/usr/share/datasets/fashion-mnist",
          "Directory with the train- and t10k- IDX files; used when --train_data is empty");
ABSL_FLAG(std::string, train_data, "",
          "Training data, split over the clients: a directory of IDX files in the MNIST layout, "
          "FEATURES,TARGETS (two .npy or two IDX files, examples along the first dimension) or "
          "FILE.csv (numeric, with a header; targets: --label_column). Empty: --data_dir");
ABSL_FLAG(std::string, test_data, "",
          "Data the coordinator evaluates each round's model on (same forms as --train_data), "
          "or 'holdout': the union of the clients' held-out splits (--holdout), written to "
          "OUT/holdout_x.npy,holdout_y.npy. Empty: --data_dir's t10k files when --train_data is "
          "empty too, else no server-side evaluation");
ABSL_FLAG(double, holdout, 0,
          "Share of each client's examples held out of training for federated evaluation "
          "(OUT/holdout.txt); in [0, 1)");
ABSL_FLAG(int, max_examples, 0, "Use only the first N training examples (0 = all); for quick runs");
ABSL_FLAG(absl::Duration, round_timeout, absl::Minutes(10), "Round deadline");
ABSL_FLAG(absl::Duration, timeout, absl::Hours(2), "Abort the whole simulation after this long");
ABSL_FLAG(bool, insecure, false,
          "Plain TCP between the processes, unsigned models. By default the run's keys are "
          "generated in --out/keys (a coordinator key, one device key per client process, an "
          "allow-list) and every connection uses CURVE");
ABSL_FLAG(std::string, secure, "none",
          "Secure aggregation: none, secagg (`--secure` alone) or plus (SecAgg+); passed to "
          "fedge-coordinator, which then sees only the sum of each cohort's updates");
ABSL_FLAG(double, secagg_dropout, 0.2, "With --secure: dropout fraction each round must survive");
ABSL_FLAG(double, secagg_clip, 1.0, "With --secure: per-coordinate delta bound before encoding");
ABSL_FLAG(double, over_select, 0,
          "Select this fraction more clients than a round needs; the round closes when the "
          "needed updates arrived (fedge-coordinator --over_select)");
ABSL_FLAG(double, kill_clients, 0,
          "Fault injection: SIGKILL this fraction of the client processes at --kill_phase of "
          "round --kill_round (their first task of a round >= it). The coordinator then needs "
          "only the survivors to start rounds");
ABSL_FLAG(std::string, kill_phase, "training",
          "training (while training), upload (trained, before sending the update), random "
          "(either, per process) or unmasking (with --secure: masked input sent, on the "
          "coordinator's request for the unmasking shares)");
ABSL_FLAG(int, kill_round, 2, "Round at which --kill_clients strikes");
ABSL_FLAG(double, stragglers, 0,
          "Fault injection: this fraction of the surviving client processes waits "
          "--straggler_delay before every upload");
ABSL_FLAG(absl::Duration, straggler_delay, absl::Seconds(5), "Delay of each --stragglers upload");
ABSL_FLAG(int, kill_coordinator_at_round, 0,
          "Fault injection: SIGKILL the coordinator right after round K's checkpoint (in "
          "--out/state), then restart it with the same state directory and endpoint; clients "
          "reconnect by themselves. 0: never");
ABSL_FLAG(int, kill_coordinator_after_updates, 0,
          "With --kill_coordinator_at_round=K: kill it mid-round instead, as soon as round K "
          "has accepted this many updates (masked inputs with --secure; fewer than close the "
          "round)");
ABSL_FLAG(absl::Duration, heartbeat_interval, absl::Seconds(1),
          "fedge-coordinator --heartbeat_interval: clients beat at it, 10 missed beats drop one");
ABSL_FLAG(std::string, launcher, "local",
          "local: every process on this machine. mpi: run under mpirun/srun (at least 2 ranks): "
          "rank 0 runs the coordinator and collects results, every other rank hosts client "
          "processes; the endpoint and the coordinator's public key travel over MPI, the data "
          "plane stays ZeroMQ (docs/scale.md)");
ABSL_FLAG(int, mpi_port, 0,
          "With --launcher=mpi: the TCP port the coordinator listens on, on all interfaces of "
          "rank 0's host (0: any free port)");
ABSL_FLAG(std::string, advertise_host, "",
          "With --launcher=mpi: the host name or address the other ranks reach rank 0 by "
          "(default: rank 0's host name)");
ABSL_FLAG(std::string, device_profile, "",
          "Heterogeneous devices: comma-separated base=FACTOR (every client FACTOR times slower "
          "than this machine), slow=FRACTION:FACTOR (a --seed-chosen "
          "FRACTION of the clients FACTOR times slower) or lognormal=SIGMA (speeds spread "
          "log-normally, the fastest at this machine's speed), and online=P (each task taken "
          "with probability P); or file=PATH (lines 'CLIENT_ID SLOWDOWN ONLINE'). Applied for "
          "real: a slower client's update is held back (SLOWDOWN - 1) x its training time, an "
          "offline one leaves the task unanswered. The profiles go to --out/devices.txt. "
          "Empty: every client at full speed, always online");
ABSL_FLAG(std::string, http_listen, "",
          "Serve the coordinator's operator interface here (its --http_listen): the live "
          "status page at http://HOST:PORT/, /metrics, /status; fedge-ctl controls the run. "
          "Loopback addresses only (the simulation's coordinator has no token); PORT 0 picks "
          "a free one, logged at start");
ABSL_FLAG(int, gateways, 0,
          "Spread the client processes over this many fedge-gateway processes (round-robin); "
          "the root coordinator sees the gateways as its clients and every root round runs over "
          "every device through them, so the run equals the flat one on the same seed "
          "(docs/topologies.md). 0: clients connect to the root");
ABSL_FLAG(double, target_accuracy, 0,
          "Report when the global model's test accuracy first reached this (round, and seconds "
          "from the first task, evaluation included) in the summary; 0 = off");
ABSL_FLAG(std::string, progress, "auto",
          "While a round runs, keep one line updated with its progress (updates in / cohort, "
          "elapsed, deadline): on, off, or auto (on when stdout is a terminal; otherwise one "
          "line per round)");
ABSL_FLAG(bool, report, false,
          "At the end, plot this run (PNG, with gnuplot: apt-get install gnuplot-nox) and "
          "summarise it in --out/report/report.md, as `fedge-report OUT` does (which also "
          "overlays several runs). Even a failed run is plotted; a report that fails is logged "
          "and leaves the exit code the run's. --launcher=local only");
