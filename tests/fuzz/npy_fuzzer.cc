// Fuzz target: the .npy parser (data/npy.h) on arbitrary bytes must return a
// Status, never crash, hang or allocate past the size limit; whatever parses
// must hold exactly as many elements as its shape says.
//
// The shared seeds (tests/fuzz/seeds.h) are protocol frames, and blind
// mutation rarely builds a valid .npy file, so each input is tried:
//   1. as a whole file;
//   2. as a small edit of a valid file built here (key_file_fuzzer's scheme):
//      a hash of the input picks the file, an offset, how many bytes (0-15)
//      to replace there, and which 16 bytes of the input replace them (half
//      the time mapped onto the characters headers are made of); half the
//      time the header length field follows an edit inside the header, so
//      the header parser and the data checks past it are reached too.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "data/npy.h"

namespace {

using fedge::data::NpyArray;

// A file as numpy writes it; `major` 1 has a u16 header length, 2 and 3 a u32.
std::string Npy(const std::string& dict, const std::string& data, int major) {
  const size_t prefix = major == 1 ? 10 : 12;
  std::string header = dict;
  header.append((64 - (prefix + header.size() + 1) % 64) % 64, ' ');
  header += '\n';
  std::string file("\x93NUMPY", 6);
  file += static_cast<char>(major);
  file += '\0';
  for (size_t i = 0; i < prefix - 8; ++i) {
    file += static_cast<char>((header.size() >> (8 * i)) & 0xff);
  }
  return file + header + data;
}

std::string Dict(const std::string& descr, const std::string& shape) {
  return "{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + shape + ", }";
}

template <typename T>
std::string Bytes(const std::vector<T>& values) {
  return std::string(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
}

const std::vector<std::string>& Templates() {
  static const std::vector<std::string>* templates = new std::vector<std::string>{
      Npy(Dict("<f4", "(2, 3)"), Bytes<float>({1, 2, 3, 4, 5, 6}), 1),
      Npy(Dict("|u1", "(2, 2)"), Bytes<uint8_t>({0, 1, 254, 255}), 1),
      Npy(Dict("<i8", "(3,)"), Bytes<int64_t>({-1, 0, 1 << 24}), 2),
      Npy(Dict("|b1", "()"), Bytes<uint8_t>({1}), 3),
      Npy(Dict("<f8", "(1, 2, 1)"), Bytes<double>({0.5, -1e300}), 1),
      Npy("{\"shape\": (2,), \"fortran_order\": False, \"descr\": \"<i2\"}",
          Bytes<int16_t>({-7, 7}), 1),
      Npy(Dict("|i1", "(3,)"), Bytes<int8_t>({-128, 0, 127}), 1),
      Npy(Dict("<f4", "(0, 3)"), "", 1),
      Npy("{'descr': '<i4', 'fortran_order': True, 'shape': (1, 2)}", Bytes<int32_t>({3, 4}), 2),
  };
  return *templates;
}

void Check(bool ok) {
  if (!ok) std::abort();
}

void Parse(const std::string& file) {
  absl::StatusOr<NpyArray> a = fedge::data::ParseNpy(file, "fuzz.npy");
  if (!a.ok()) return;
  uint64_t nonzero = 1;  // the product of the non-zero dimensions is bounded too
  for (int64_t d : a->shape) {
    Check(d >= 0);
    if (d > 0) nonzero *= static_cast<uint64_t>(d);
    Check(nonzero <= fedge::data::kMaxNpyBytes);
  }
  const uint64_t n = static_cast<uint64_t>(a->NumElements());
  Check(n <= nonzero);
  Check(a->is_uint8 ? a->bytes.size() == n && a->values.empty()
                    : a->values.size() == n && a->bytes.empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  Parse(input);
  if (size == 0) return 0;
  uint64_t h = 1469598103934665603u;  // FNV-1a
  for (size_t i = 0; i < size; ++i) h = (h ^ data[i]) * 1099511628211u;
  std::string file = Templates()[h % Templates().size()];
  const size_t at = (h >> 8) % (file.size() + 1);
  const size_t erase = std::min<size_t>((h >> 24) % 16, file.size() - at);
  std::string insert = input.substr((h >> 32) % size, 16);
  if ((h >> 28) & 1) {
    static constexpr char kAlphabet[] = "0123456789(), '\"<>=|:{}fiubcL-TrueFalsdscrphot_\n";
    for (char& c : insert) c = kAlphabet[static_cast<uint8_t>(c) % (sizeof(kAlphabet) - 1)];
  }
  file.replace(at, erase, insert);
  if (((h >> 29) & 1) && at >= 12) {
    // Keep the length field in step with an edit past it: the header grows
    // or shrinks by the edit (an edit of the data's first bytes moves them
    // into the header). The edit left the version byte alone.
    const size_t prefix = file[6] == 1 ? 10 : 12;
    uint64_t length = 0;
    for (size_t i = 8; i < prefix; ++i) {
      length |= uint64_t{static_cast<uint8_t>(file[i])} << (8 * (i - 8));
    }
    length += insert.size() - erase;  // modulo 2^64, then cut to the field
    for (size_t i = 8; i < prefix; ++i) {
      file[i] = static_cast<char>((length >> (8 * (i - 8))) & 0xff);
    }
  }
  Parse(file);
  return 0;
}
