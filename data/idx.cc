#include "data/idx.h"

#include <unistd.h>
#include <zlib.h>

#include <cmath>
#include <cstring>
#include <memory>

#include "absl/base/internal/endian.h"
#include "absl/strings/str_cat.h"
#include "base/status_macros.h"

namespace fedge::data {
namespace {

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

  const std::string& path() const { return path_; }

 private:
  IdxFile(std::string path, GzFile f) : path_(std::move(path)), file_(std::move(f)) {}
  std::string path_;
  GzFile file_;
};

struct Header {
  uint8_t type = 0;
  std::vector<int64_t> dims;
  uint64_t count = 0;
  size_t item = 0;  // bytes per element
};

size_t ItemSize(uint8_t type) {
  switch (type) {
    case 0x08: case 0x09: return 1;
    case 0x0B: return 2;
    case 0x0C: case 0x0D: return 4;
    case 0x0E: return 8;
    default: return 0;
  }
}

absl::StatusOr<Header> ReadHeader(IdxFile& f) {
  FEDGE_ASSIGN_OR_RETURN(uint32_t magic, f.ReadBigEndian32("magic"));
  Header h;
  h.type = static_cast<uint8_t>((magic >> 8) & 0xff);
  const uint32_t rank = magic & 0xff;
  h.item = ItemSize(h.type);
  if ((magic >> 16) != 0 || h.item == 0 || rank == 0 || rank > 8) {
    return absl::InvalidArgumentError(absl::StrCat(
        f.path(), ": magic 0x", absl::Hex(magic, absl::kZeroPad8),
        " is not an IDX header (want 0x0000TTNN: type 08/09/0B/0C/0D/0E, 1 to 8 dimensions)"));
  }
  h.count = 1;
  for (uint32_t i = 0; i < rank; ++i) {
    FEDGE_ASSIGN_OR_RETURN(uint32_t d, f.ReadBigEndian32("dimension"));
    h.dims.push_back(d);
    if (d == 0 && i > 0) {
      return absl::InvalidArgumentError(absl::StrCat(f.path(), ": dimension ", i, " is 0"));
    }
    h.count *= d;
    if (h.count * h.item > kMaxIdxBytes) {
      return absl::InvalidArgumentError(
          absl::StrCat(f.path(), ": implausible dimensions (over ", kMaxIdxBytes, " bytes)"));
    }
  }
  return h;
}

float BigEndianValue(const unsigned char* p, uint8_t type) {
  switch (type) {
    case 0x09: return static_cast<float>(static_cast<int8_t>(p[0]));
    case 0x0B: return static_cast<float>(static_cast<int16_t>(absl::big_endian::Load16(p)));
    case 0x0C: return static_cast<float>(static_cast<int32_t>(absl::big_endian::Load32(p)));
    case 0x0D: {
      uint32_t bits = absl::big_endian::Load32(p);
      float v;
      std::memcpy(&v, &bits, 4);
      return v;
    }
    case 0x0E: {
      uint64_t bits = absl::big_endian::Load64(p);
      double v;
      std::memcpy(&v, &bits, 8);
      return static_cast<float>(v);
    }
    default: return p[0];
  }
}

}  // namespace

absl::StatusOr<IdxArray> ReadIdx(const std::string& path) {
  FEDGE_ASSIGN_OR_RETURN(IdxFile f, IdxFile::Open(path));
  FEDGE_ASSIGN_OR_RETURN(Header h, ReadHeader(f));
  IdxArray a;
  a.dims = h.dims;
  if (h.type == 0x08) {
    a.is_uint8 = true;
    a.bytes.resize(h.count);
    FEDGE_RETURN_IF_ERROR(f.Read(a.bytes.data(), h.count, "the elements"));
  } else {
    std::vector<unsigned char> raw(h.count * h.item);
    FEDGE_RETURN_IF_ERROR(f.Read(raw.data(), raw.size(), "the elements"));
    a.values.resize(h.count);
    for (uint64_t i = 0; i < h.count; ++i) {
      const unsigned char* p = &raw[i * h.item];
      // Checked as an integer: float32 would round 2^24 + 1 to 2^24 first.
      if (h.type == 0x0C) {
        const int64_t v = static_cast<int32_t>(absl::big_endian::Load32(p));
        if (v > (int64_t{1} << 24) || v < -(int64_t{1} << 24)) {
          return absl::InvalidArgumentError(absl::StrCat(
              path, ": element ", i, " is ", v, ", beyond 2^24: float32 would not hold it exactly"));
        }
      }
      a.values[i] = BigEndianValue(p, h.type);
    }
  }
  FEDGE_RETURN_IF_ERROR(f.ExpectEnd());
  return a;
}

absl::StatusOr<std::vector<int64_t>> ReadIdxDims(const std::string& path) {
  FEDGE_ASSIGN_OR_RETURN(IdxFile f, IdxFile::Open(path));
  FEDGE_ASSIGN_OR_RETURN(Header h, ReadHeader(f));
  return h.dims;
}

}  // namespace fedge::data
