#ifndef FEDGE_BENCH_SECAGG_SIM_H_
#define FEDGE_BENCH_SECAGG_SIM_H_

// One in-process SecAgg / SecAgg+ round for the benchmark: a SecAggServer and
// n clients, single-threaded, compute only (no sockets, no encoding inside the
// timed regions).
//
// Clients are either real (SecAggClient, timed) or simulated. A simulated
// client is played by the benchmark itself with real X25519 keys, real
// AES-GCM ciphertexts towards real clients, and "constant-polynomial" Shamir
// shares (every holder's share equals the secret's chunks, a valid sharing
// that any t holders reconstruct): the server cannot tell it from a real one
// and does exactly the same work for it. Simulated clients send a fixed random
// vector as their masked input, so the sum is verified only when every client
// is real. Rows with n up to --sample run all clients for real.

#include <cstdint>
#include <string>

#include "secure/secagg.h"

namespace fedge::bench {

struct RowSpec {
  secure::SecAggVariant variant = secure::SecAggVariant::kFull;
  uint32_t n = 100;
  uint32_t d = 100000;
  double dropout = 0;     // fraction dropped after ShareKeys (no masked input)
  uint32_t sample = 0;    // real clients (0 or >= n: all), chosen among the survivors
  uint64_t seed = 1;
};

struct RowResult {
  secure::SecAggConfig config;  // variant may be kFull when SecAgg+ asked for a complete graph
  uint32_t real_clients = 0;
  uint32_t dropped = 0;
  double client_mean_s = 0;  // per real surviving client: all four steps
  double client_max_s = 0;
  double server_s = 0;       // every SecAggServer call
  double server_phase_s[4] = {0, 0, 0, 0};  // AdvertiseKeys .. Unmasking (messages + close)
  double bytes_sent = 0;     // per real surviving client, encoded SecAggToServer frames
  double bytes_received = 0; // ... encoded SecAggToClient frames
  bool verified = false;     // the sum was checked against the plain sum
  std::string error;         // empty when the round completed (and, if verified, matched)
};

RowResult RunSecAggRow(const RowSpec& spec);

}  // namespace fedge::bench

#endif  // FEDGE_BENCH_SECAGG_SIM_H_
