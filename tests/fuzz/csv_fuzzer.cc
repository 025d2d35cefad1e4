// Fuzz target: the CSV parser (data/csv.h) on arbitrary text must return a
// Status, never crash or hang; whatever parses must hold one example per line
// after the header, F features and T targets each.
//
// The shared seeds (tests/fuzz/seeds.h) are protocol frames, which never name
// a "label" column, so each input is tried:
//   1. as a whole file;
//   2. as a small edit of a valid CSV text built here (key_file_fuzzer's
//      scheme): a hash of the input picks the text, an offset, how many bytes
//      (0-15) to replace there, and which 16 bytes of the input replace them
//      (half the time mapped onto the characters CSV files are made of).
// Each text is parsed with the target "label", and with "y" and "label".

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "data/csv.h"

namespace {

using fedge::data::Dataset;

const std::vector<std::string>& Templates() {
  static const std::vector<std::string>* templates = new std::vector<std::string>{
      "a,b,label\n1,2,0\n3.5,-4,1\n",
      "label,x,y\r\n0,1e3,2\r\n1, nan ,-inf\r\n",
      "x,y,label\n1,2,3",
      "\xEF\xBB\xBFpetal,sepal,label\n0.1,0.2,2\n",
      "a,label\n1,0\n\n",
      "a,\"label\"\n1,2\n",
  };
  return *templates;
}

void Check(bool ok) {
  if (!ok) std::abort();
}

// Lines after the header: a final line end does not start a line.
size_t DataLines(const std::string& text) {
  size_t lines = static_cast<size_t>(std::count(text.begin(), text.end(), '\n'));
  if (!text.empty() && text.back() != '\n') ++lines;
  return lines == 0 ? 0 : lines - 1;
}

void Parse(const std::string& text, const std::vector<std::string>& targets) {
  absl::StatusOr<Dataset> d = fedge::data::ParseCsv(text, targets, "fuzz.csv");
  if (!d.ok()) return;
  const size_t rows = DataLines(text);
  const size_t t = targets.size();
  Check(rows >= 1);
  Check(d->storage == fedge::data::Storage::kFloat32 && d->bytes.empty());
  Check(d->example_shape.size() == 1 && d->example_shape[0] >= 1);
  const size_t f = static_cast<size_t>(d->example_shape[0]);
  Check(t == 1 ? d->target_shape.empty()
               : d->target_shape == std::vector<int64_t>{static_cast<int64_t>(t)});
  Check(d->features.size() == rows * f);
  Check(d->targets.size() == rows * t);
}

void ParseAll(const std::string& text) {
  Parse(text, {"label"});
  Parse(text, {"y", "label"});
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input(reinterpret_cast<const char*>(data), size);
  ParseAll(input);
  if (size == 0) return 0;
  uint64_t h = 1469598103934665603u;  // FNV-1a
  for (size_t i = 0; i < size; ++i) h = (h ^ data[i]) * 1099511628211u;
  std::string text = Templates()[h % Templates().size()];
  const size_t at = (h >> 8) % (text.size() + 1);
  const size_t erase = std::min<size_t>((h >> 24) % 16, text.size() - at);
  std::string insert = input.substr((h >> 32) % size, 16);
  if ((h >> 28) & 1) {
    static constexpr char kAlphabet[] = "0123456789.,-+eE \t\r\n\"labelxynaif";
    for (char& c : insert) c = kAlphabet[static_cast<uint8_t>(c) % (sizeof(kAlphabet) - 1)];
  }
  text.replace(at, erase, insert);
  ParseAll(text);
  return 0;
}
