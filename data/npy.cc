#include "data/npy.h"

#include <limits>

#include "absl/base/casts.h"
#include "absl/base/internal/endian.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "base/file_util.h"
#include "base/status_macros.h"

namespace fedge::data {
namespace {

constexpr char kMagic[] = "\x93NUMPY";
constexpr size_t kMagicSize = 6;
// numpy 2 raised NPY_MAXDIMS to 64; no writer makes a deeper array.
constexpr size_t kMaxRank = 64;
// float32 holds every integer up to 2^24 exactly, and not all beyond.
constexpr int64_t kMaxExactInteger = int64_t{1} << 24;

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "'=' (native) dtypes are read as little-endian");

struct Header {
  std::string descr;
  bool fortran_order = false;
  std::vector<int64_t> shape;
};

// A strict reader of the header's dict literal, never an evaluator: the three
// keys numpy writes, each exactly once, in any order; quoted strings without
// escapes, True/False, and tuples of non-negative integers.
class HeaderParser {
 public:
  HeaderParser(std::string_view text, const std::string& what) : text_(text), what_(what) {}

  absl::StatusOr<Header> Parse() {
    Header h;
    bool seen[3] = {false, false, false};
    FEDGE_RETURN_IF_ERROR(Expect('{'));
    while (!Consume('}')) {  // `}` right after `{` or a comma: Python allows both
      FEDGE_RETURN_IF_ERROR(Entry(h, seen));
      if (!Consume(',')) {
        FEDGE_RETURN_IF_ERROR(Expect('}'));
        break;
      }
    }
    SkipSpaces();
    if (pos_ != text_.size()) return Error("unexpected text after the closing '}'");
    static constexpr const char* kKeys[] = {"descr", "fortran_order", "shape"};
    for (int i = 0; i < 3; ++i) {
      if (!seen[i]) return Error(absl::StrCat("missing key '", kKeys[i], "'"));
    }
    return h;
  }

 private:
  absl::Status Error(absl::string_view problem) const { return ErrorAt(pos_, problem); }
  absl::Status ErrorAt(size_t at, absl::string_view problem) const {
    return absl::InvalidArgumentError(
        absl::StrCat(what_, ": bad .npy header at byte ", at, ": ", problem));
  }

  void SkipSpaces() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t')) ++pos_;
  }

  bool Consume(char c) {
    SkipSpaces();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }

  absl::Status Expect(char c) {
    if (Consume(c)) return absl::OkStatus();
    return Error(absl::StrCat("expected '", absl::string_view(&c, 1), "'"));
  }

  absl::Status Entry(Header& h, bool seen[3]) {
    SkipSpaces();
    const size_t key_at = pos_;
    FEDGE_ASSIGN_OR_RETURN(std::string key, String());
    int index = key == "descr" ? 0 : key == "fortran_order" ? 1 : key == "shape" ? 2 : -1;
    if (index < 0) {
      return ErrorAt(key_at,
                     absl::StrCat("unknown key '", key, "' (want descr, fortran_order, shape)"));
    }
    if (seen[index]) return ErrorAt(key_at, absl::StrCat("key '", key, "' appears twice"));
    seen[index] = true;
    FEDGE_RETURN_IF_ERROR(Expect(':'));
    if (index == 0) {
      if (Consume('[')) return Error("structured (record) dtypes are not supported");
      FEDGE_ASSIGN_OR_RETURN(h.descr, String());
    } else if (index == 1) {
      FEDGE_ASSIGN_OR_RETURN(h.fortran_order, Bool());
    } else {
      FEDGE_ASSIGN_OR_RETURN(h.shape, Shape());
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> String() {
    SkipSpaces();
    if (pos_ >= text_.size() || (text_[pos_] != '\'' && text_[pos_] != '"')) {
      return Error("expected a quoted string");
    }
    const char quote = text_[pos_++];
    const size_t end = text_.find(quote, pos_);
    if (end == std::string_view::npos) return Error("unterminated string");
    std::string s(text_.substr(pos_, end - pos_));
    if (s.find('\\') != std::string::npos) return Error("escapes in strings are not supported");
    pos_ = end + 1;
    return s;
  }

  absl::StatusOr<bool> Bool() {
    SkipSpaces();
    for (bool value : {true, false}) {
      std::string_view word = value ? "True" : "False";
      if (text_.substr(pos_, word.size()) == word) {
        pos_ += word.size();
        return value;
      }
    }
    return Error("expected True or False");
  }

  // "()", "(5,)", "(5, 6)" or "(5, 6,)"; "(5)" is an integer in Python, not a tuple.
  absl::StatusOr<std::vector<int64_t>> Shape() {
    FEDGE_RETURN_IF_ERROR(Expect('('));
    std::vector<int64_t> shape;
    while (!Consume(')')) {
      if (shape.size() == kMaxRank) {
        return Error(absl::StrCat("more than ", kMaxRank, " dimensions"));
      }
      FEDGE_ASSIGN_OR_RETURN(int64_t dim, Dim());
      shape.push_back(dim);
      if (Consume(',')) continue;
      if (shape.size() == 1) return Error("a 1-d shape needs a trailing comma, as in (5,)");
      FEDGE_RETURN_IF_ERROR(Expect(')'));
      break;
    }
    return shape;
  }

  absl::StatusOr<int64_t> Dim() {
    SkipSpaces();
    if (pos_ < text_.size() && text_[pos_] == '-') return Error("negative dimension");
    const size_t start = pos_;
    int64_t dim = 0;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') {
      const int digit = text_[pos_] - '0';
      if (dim > (std::numeric_limits<int64_t>::max() - digit) / 10) {
        return Error("dimension does not fit 64 bits");
      }
      dim = dim * 10 + digit;
      ++pos_;
    }
    if (pos_ == start) return Error("expected a dimension");
    // Python 2's numpy wrote long integers as 5L; numpy still reads them.
    if (pos_ < text_.size() && text_[pos_] == 'L') ++pos_;
    return dim;
  }

  std::string_view text_;
  const std::string& what_;
  size_t pos_ = 0;
};

enum class Kind { kFloat, kInt, kUint8, kBool };

struct DType {
  Kind kind;
  size_t size;  // bytes per element
};

absl::StatusOr<DType> ParseDescr(const std::string& descr, const std::string& what) {
  static constexpr struct {
    const char* code;
    DType type;
  } kTypes[] = {
      {"f4", {Kind::kFloat, 4}}, {"f8", {Kind::kFloat, 8}}, {"i1", {Kind::kInt, 1}},
      {"i2", {Kind::kInt, 2}},   {"i4", {Kind::kInt, 4}},   {"i8", {Kind::kInt, 8}},
      {"u1", {Kind::kUint8, 1}}, {"b1", {Kind::kBool, 1}},
  };
  const std::string_view code = std::string_view(descr).substr(descr.empty() ? 0 : 1);
  const char order = descr.size() > code.size() ? descr.front() : '\0';
  for (const auto& [name, type] : kTypes) {
    if (code != name) continue;
    // Byte order means nothing for one-byte types; '=' (native) is
    // little-endian on every machine this builds for (the static_assert).
    if (order == '<' || order == '=' || (type.size == 1 && (order == '|' || order == '>'))) {
      return type;
    }
    if (order == '>') {
      return absl::InvalidArgumentError(absl::StrCat(
          what, ": dtype '", descr, "' is big-endian; save the array little-endian, as in ",
          "np.save(path, a.astype('<", std::string(code), "'))"));
    }
  }
  return absl::InvalidArgumentError(absl::StrCat(
      what, ": dtype '", descr, "' is not supported (want <f4 <f8 |i1 <i2 <i4 <i8 |u1 |b1)"));
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  return absl::StrCat("(", absl::StrJoin(shape, ", "), shape.size() == 1 ? ",)" : ")");
}

// The number of elements, with the product of the non-zero dimensions bounded
// too: a (0, 2^40, 2^40) array holds nothing, but whoever later multiplies its
// trailing dimensions (one example's size) must not overflow.
absl::StatusOr<uint64_t> CountElements(const std::vector<int64_t>& shape, size_t item_size,
                                       const std::string& what) {
  uint64_t nonzero = 1;
  bool empty = false;
  for (int64_t d : shape) {
    if (d == 0) {
      empty = true;
      continue;
    }
    if (nonzero > kMaxNpyBytes / item_size / static_cast<uint64_t>(d)) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, ": shape ", ShapeString(shape), " is over the limit of ", kMaxNpyBytes, " bytes"));
    }
    nonzero *= static_cast<uint64_t>(d);
  }
  return empty ? 0 : nonzero;
}

// Splits the file into the header text (without its final newline) and the
// data, checking the magic, the version and the header length.
absl::Status SplitFile(std::string_view file, const std::string& what, std::string_view* header,
                       std::string_view* data) {
  if (file.size() < kMagicSize ||
      file.substr(0, kMagicSize) != std::string_view(kMagic, kMagicSize)) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": not a .npy file (no \\x93NUMPY magic)"));
  }
  if (file.size() < kMagicSize + 2) {
    return absl::DataLossError(absl::StrCat(what, ": truncated after the .npy magic"));
  }
  const int major = static_cast<uint8_t>(file[6]);
  const int minor = static_cast<uint8_t>(file[7]);
  if (major < 1 || major > 3 || minor != 0) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": .npy format version ", major, ".",
                                                   minor,
                                                   " is not supported (want 1.0, 2.0, 3.0)"));
  }
  const size_t prefix = major == 1 ? 10 : 12;  // magic, version, u16 or u32 length
  if (file.size() < prefix) {
    return absl::DataLossError(absl::StrCat(what, ": truncated in the .npy header length"));
  }
  const uint64_t length = major == 1 ? absl::little_endian::Load16(file.data() + 8)
                                     : absl::little_endian::Load32(file.data() + 8);
  if (length > kMaxNpyHeaderBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": .npy header is ", length, " bytes, over the limit of ", kMaxNpyHeaderBytes));
  }
  if (file.size() - prefix < length) {
    return absl::DataLossError(absl::StrCat(what, ": file is ", file.size(),
                                            " bytes, too short for its ", length,
                                            "-byte .npy header"));
  }
  *header = file.substr(prefix, length);
  *data = file.substr(prefix + length);
  if (header->empty() || header->back() != '\n') {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": .npy header does not end with a newline"));
  }
  header->remove_suffix(1);
  return absl::OkStatus();
}

float LoadFloat(const char* p, size_t size) {
  if (size == 4) return absl::bit_cast<float>(absl::little_endian::Load32(p));
  const double d = absl::bit_cast<double>(absl::little_endian::Load64(p));
  // Spelled out: converting an out-of-range double to float is undefined.
  if (d > std::numeric_limits<float>::max()) return std::numeric_limits<float>::infinity();
  if (d < -std::numeric_limits<float>::max()) return -std::numeric_limits<float>::infinity();
  return static_cast<float>(d);
}

int64_t LoadInt(const char* p, size_t size) {
  switch (size) {
    case 1: return static_cast<int8_t>(p[0]);
    case 2: return static_cast<int16_t>(absl::little_endian::Load16(p));
    case 4: return static_cast<int32_t>(absl::little_endian::Load32(p));
    default: return static_cast<int64_t>(absl::little_endian::Load64(p));
  }
}

absl::Status FillElements(std::string_view data, DType type, uint64_t count,
                          const std::string& what, NpyArray& out) {
  if (type.kind == Kind::kUint8 || type.kind == Kind::kBool) {
    out.is_uint8 = true;
    out.bytes.assign(data.begin(), data.end());
    for (uint64_t i = 0; type.kind == Kind::kBool && i < count; ++i) {
      if (out.bytes[i] > 1) {
        return absl::InvalidArgumentError(
            absl::StrCat(what, ": bool element ", i, " is ", int{out.bytes[i]}, ", not 0 or 1"));
      }
    }
    return absl::OkStatus();
  }
  out.values.resize(count);
  for (uint64_t i = 0; i < count; ++i) {
    const char* p = data.data() + i * type.size;
    if (type.kind == Kind::kFloat) {
      out.values[i] = LoadFloat(p, type.size);
      continue;
    }
    const int64_t v = LoadInt(p, type.size);
    if (v > kMaxExactInteger || v < -kMaxExactInteger) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": integer element ", i, " is ", v,
                       ", beyond 2^24: float32 would not hold it exactly"));
    }
    out.values[i] = static_cast<float>(v);
  }
  return absl::OkStatus();
}

}  // namespace

int64_t NpyArray::NumElements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

absl::StatusOr<NpyArray> ParseNpy(std::string_view file, const std::string& what) {
  std::string_view header_text, data;
  FEDGE_RETURN_IF_ERROR(SplitFile(file, what, &header_text, &data));
  FEDGE_ASSIGN_OR_RETURN(Header header, HeaderParser(header_text, what).Parse());
  FEDGE_ASSIGN_OR_RETURN(DType type, ParseDescr(header.descr, what));
  if (header.fortran_order) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": the array is in Fortran order; save it in C order, as in ",
                     "np.save(path, np.ascontiguousarray(a))"));
  }
  FEDGE_ASSIGN_OR_RETURN(uint64_t count, CountElements(header.shape, type.size, what));
  const uint64_t want = count * type.size;
  if (data.size() != want) {
    return absl::DataLossError(absl::StrCat(what, ": data is ", data.size(), " bytes, want ", want,
                                            " for shape ", ShapeString(header.shape), " of '",
                                            header.descr, "'"));
  }
  NpyArray array;
  array.shape = std::move(header.shape);
  FEDGE_RETURN_IF_ERROR(FillElements(data, type, count, what, array));
  return array;
}

absl::StatusOr<NpyArray> ReadNpy(const std::string& path) {
  // The largest valid file: version 2/3 prefix, the longest header, the data.
  absl::StatusOr<std::string> file = ReadFile(path, 12 + kMaxNpyHeaderBytes + kMaxNpyBytes);
  if (file.status().code() == absl::StatusCode::kFailedPrecondition) return file.status();
  if (!file.ok()) {
    return absl::NotFoundError(absl::StrCat(path, ": cannot read (", file.status().message(), ")"));
  }
  return ParseNpy(*file, path);
}

std::string FormatNpy(const std::vector<int64_t>& shape, const std::vector<float>& values) {
  std::string dims;
  for (int64_t d : shape) absl::StrAppend(&dims, d, ",");
  std::string header =
      absl::StrCat("{'descr': '<f4', 'fortran_order': False, 'shape': (", dims, "), }");
  // numpy pads the header with spaces so the data starts 64-byte aligned.
  while ((10 + header.size() + 1) % 64 != 0) header += ' ';
  header += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  out += header;
  for (float v : values) {
    char le[4];
    absl::little_endian::Store32(le, absl::bit_cast<uint32_t>(v));
    out.append(le, 4);
  }
  return out;
}

}  // namespace fedge::data
