#include "client/dataset.h"

#include <unistd.h>
#include <zlib.h>

#include <cstring>
#include <memory>

#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace fedge::client {
namespace {

constexpr uint32_t kImagesMagic = 0x00000803;
constexpr uint32_t kLabelsMagic = 0x00000801;
// Generous bound so a corrupt header cannot make us allocate without limit.
constexpr uint64_t kMaxIdxBytes = uint64_t{4} << 30;

struct GzCloser {
  void operator()(gzFile f) const { gzclose(f); }
};
using GzFile = std::unique_ptr<std::remove_pointer_t<gzFile>, GzCloser>;

class IdxFile {
 public:
  static absl::StatusOr<IdxFile> Open(const std::string& path) {
    if (::access(path.c_str(), R_OK) != 0) {
      return absl::NotFoundError(absl::StrCat("cannot read IDX file ", path));
    }
    gzFile f = gzopen(path.c_str(), "rb");  // also reads uncompressed files
    if (f == nullptr) return absl::NotFoundError(absl::StrCat("cannot open ", path));
    gzbuffer(f, 1 << 17);
    return IdxFile(path, GzFile(f));
  }

  absl::Status Read(void* out, size_t bytes, const char* what) {
    char* p = static_cast<char*>(out);
    while (bytes > 0) {
      unsigned chunk = static_cast<unsigned>(std::min<size_t>(bytes, 1u << 30));
      int n = gzread(file_.get(), p, chunk);
      if (n < 0) {
        int err = 0;
        const char* msg = gzerror(file_.get(), &err);
        return absl::DataLossError(absl::StrCat(path_, ": corrupt while reading ", what, ": ", msg));
      }
      if (n == 0) {
        return absl::DataLossError(absl::StrCat(path_, ": truncated while reading ", what));
      }
      p += n;
      bytes -= static_cast<size_t>(n);
    }
    return absl::OkStatus();
  }

  absl::StatusOr<uint32_t> ReadBigEndian32(const char* what) {
    unsigned char b[4];
    FEDGE_RETURN_IF_ERROR(Read(b, 4, what));
    return (uint32_t{b[0]} << 24) | (uint32_t{b[1]} << 16) | (uint32_t{b[2]} << 8) | b[3];
  }

  absl::Status ExpectEnd() {
    char extra;
    if (gzread(file_.get(), &extra, 1) != 0) {
      return absl::DataLossError(absl::StrCat(path_, ": unexpected bytes after the data"));
    }
    return absl::OkStatus();
  }

  absl::Status ExpectMagic(uint32_t want) {
    FEDGE_ASSIGN_OR_RETURN(uint32_t magic, ReadBigEndian32("magic"));
    if (magic != want) {
      return absl::InvalidArgumentError(absl::StrCat(
          path_, ": magic 0x", absl::Hex(magic, absl::kZeroPad8), ", expected 0x",
          absl::Hex(want, absl::kZeroPad8), " (not an IDX ",
          want == kImagesMagic ? "image" : "label", " file?)"));
    }
    return absl::OkStatus();
  }

  const std::string& path() const { return path_; }

 private:
  IdxFile(std::string path, GzFile f) : path_(std::move(path)), file_(std::move(f)) {}
  std::string path_;
  GzFile file_;
};

absl::StatusOr<std::string> FindIdx(const std::string& dir, const std::string& name) {
  for (const std::string& candidate : {absl::StrCat(dir, "/", name, ".gz"), absl::StrCat(dir, "/", name)}) {
    if (::access(candidate.c_str(), R_OK) == 0) return candidate;
  }
  return absl::NotFoundError(absl::StrCat("no ", name, "[.gz] in ", dir));
}

}  // namespace

absl::StatusOr<Dataset> ReadIdxImages(const std::string& path) {
  FEDGE_ASSIGN_OR_RETURN(IdxFile f, IdxFile::Open(path));
  FEDGE_RETURN_IF_ERROR(f.ExpectMagic(kImagesMagic));
  FEDGE_ASSIGN_OR_RETURN(uint32_t n, f.ReadBigEndian32("image count"));
  FEDGE_ASSIGN_OR_RETURN(uint32_t rows, f.ReadBigEndian32("rows"));
  FEDGE_ASSIGN_OR_RETURN(uint32_t cols, f.ReadBigEndian32("cols"));
  uint64_t bytes = uint64_t{n} * rows * cols;
  if (rows == 0 || cols == 0 || rows > 4096 || cols > 4096 || bytes > kMaxIdxBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        path, ": implausible dimensions ", n, "x", rows, "x", cols));
  }
  Dataset d;
  d.rows = rows;
  d.cols = cols;
  d.pixels.resize(bytes);
  FEDGE_RETURN_IF_ERROR(f.Read(d.pixels.data(), bytes, "pixels"));
  FEDGE_RETURN_IF_ERROR(f.ExpectEnd());
  d.labels.assign(n, 0);
  return d;
}

absl::StatusOr<std::vector<uint8_t>> ReadIdxLabels(const std::string& path) {
  FEDGE_ASSIGN_OR_RETURN(IdxFile f, IdxFile::Open(path));
  FEDGE_RETURN_IF_ERROR(f.ExpectMagic(kLabelsMagic));
  FEDGE_ASSIGN_OR_RETURN(uint32_t n, f.ReadBigEndian32("label count"));
  if (n > kMaxIdxBytes) {
    return absl::InvalidArgumentError(absl::StrCat(path, ": implausible label count ", n));
  }
  std::vector<uint8_t> labels(n);
  FEDGE_RETURN_IF_ERROR(f.Read(labels.data(), n, "labels"));
  FEDGE_RETURN_IF_ERROR(f.ExpectEnd());
  return labels;
}

absl::StatusOr<Dataset> LoadIdxDataset(const std::string& dir, const std::string& split) {
  if (split != "train" && split != "t10k") {
    return absl::InvalidArgumentError(absl::StrCat("split '", split, "' is not train or t10k"));
  }
  FEDGE_ASSIGN_OR_RETURN(std::string images_path,
                         FindIdx(dir, absl::StrCat(split, "-images-idx3-ubyte")));
  FEDGE_ASSIGN_OR_RETURN(std::string labels_path,
                         FindIdx(dir, absl::StrCat(split, "-labels-idx1-ubyte")));
  FEDGE_ASSIGN_OR_RETURN(Dataset d, ReadIdxImages(images_path));
  FEDGE_ASSIGN_OR_RETURN(std::vector<uint8_t> labels, ReadIdxLabels(labels_path));
  if (labels.size() != d.labels.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        images_path, " has ", d.labels.size(), " images but ", labels_path, " has ",
        labels.size(), " labels"));
  }
  d.labels = std::move(labels);
  return d;
}

absl::StatusOr<std::vector<uint8_t>> LoadIdxLabels(const std::string& dir,
                                                   const std::string& split) {
  FEDGE_ASSIGN_OR_RETURN(std::string path, FindIdx(dir, absl::StrCat(split, "-labels-idx1-ubyte")));
  return ReadIdxLabels(path);
}

absl::StatusOr<Dataset> Subset(const Dataset& data, absl::Span<const int64_t> indices) {
  Dataset out;
  out.rows = data.rows;
  out.cols = data.cols;
  const size_t per = static_cast<size_t>(data.pixels_per_example());
  out.pixels.resize(indices.size() * per);
  out.labels.resize(indices.size());
  for (size_t i = 0; i < indices.size(); ++i) {
    int64_t idx = indices[i];
    if (idx < 0 || idx >= data.size()) {
      return absl::OutOfRangeError(absl::StrCat(
          "example index ", idx, " is outside the dataset of ", data.size()));
    }
    std::memcpy(out.pixels.data() + i * per, data.pixels.data() + idx * per, per);
    out.labels[i] = data.labels[idx];
  }
  return out;
}

}  // namespace fedge::client
