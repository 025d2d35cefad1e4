#include "simulations/cluster.h"

#include <mpi.h>

#include <cstdint>
#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace fedge::sim {
namespace {

absl::Status MpiError(int code, const char* what) {
  char text[MPI_MAX_ERROR_STRING];
  int length = 0;
  MPI_Error_string(code, text, &length);
  return absl::UnavailableError(absl::StrCat("MPI ", what, ": ", std::string(text, length)));
}

// Strings travel as bytes; MPI counts are int.
absl::Status CheckCount(size_t n) {
  if (n > static_cast<size_t>(INT32_MAX)) {
    return absl::ResourceExhaustedError(absl::StrCat("MPI message of ", n, " bytes"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::unique_ptr<Cluster>> Cluster::Init() {
  // Errors come back as codes, so they become Status with a message.
  if (int rc = MPI_Init(nullptr, nullptr); rc != MPI_SUCCESS) return MpiError(rc, "init");
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  auto c = std::unique_ptr<Cluster>(new Cluster());
  MPI_Comm_rank(MPI_COMM_WORLD, &c->rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &c->size_);
  char name[MPI_MAX_PROCESSOR_NAME];
  int length = 0;
  MPI_Get_processor_name(name, &length);
  c->host_.assign(name, static_cast<size_t>(length));
  return c;
}

Cluster::~Cluster() { MPI_Finalize(); }

absl::Status Cluster::Broadcast(std::string* value) {
  uint64_t n = value->size();
  if (int rc = MPI_Bcast(&n, 1, MPI_UINT64_T, 0, MPI_COMM_WORLD); rc != MPI_SUCCESS) {
    return MpiError(rc, "broadcast");
  }
  if (absl::Status s = CheckCount(n); !s.ok()) return s;
  value->resize(n);
  if (n == 0) return absl::OkStatus();
  if (int rc = MPI_Bcast(value->data(), static_cast<int>(n), MPI_CHAR, 0, MPI_COMM_WORLD);
      rc != MPI_SUCCESS) {
    return MpiError(rc, "broadcast");
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> Cluster::Gather(const std::string& mine) {
  if (absl::Status s = CheckCount(mine.size()); !s.ok()) return s;
  const int n = static_cast<int>(mine.size());
  std::vector<int> counts(rank_ == 0 ? static_cast<size_t>(size_) : 0);
  if (int rc = MPI_Gather(&n, 1, MPI_INT, counts.data(), 1, MPI_INT, 0, MPI_COMM_WORLD);
      rc != MPI_SUCCESS) {
    return MpiError(rc, "gather");
  }
  std::vector<int> offsets(counts.size(), 0);
  size_t total = 0;
  for (size_t r = 0; r < counts.size(); ++r) {
    offsets[r] = static_cast<int>(total);
    total += static_cast<size_t>(counts[r]);
  }
  if (absl::Status s = CheckCount(total); !s.ok()) return s;
  std::string all(total, '\0');
  if (int rc = MPI_Gatherv(mine.data(), n, MPI_CHAR, all.data(), counts.data(), offsets.data(),
                           MPI_CHAR, 0, MPI_COMM_WORLD);
      rc != MPI_SUCCESS) {
    return MpiError(rc, "gather");
  }
  std::vector<std::string> out;
  for (size_t r = 0; r < counts.size(); ++r) {
    out.push_back(all.substr(static_cast<size_t>(offsets[r]), static_cast<size_t>(counts[r])));
  }
  return out;
}

void Cluster::Abort(int code) {
  MPI_Abort(MPI_COMM_WORLD, code);
  std::_Exit(code);  // MPI_Abort does not return; this is for the compiler
}

}  // namespace fedge::sim
