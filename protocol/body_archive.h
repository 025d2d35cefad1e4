#ifndef FEDGE_PROTOCOL_BODY_ARCHIVE_H_
#define FEDGE_PROTOCOL_BODY_ARCHIVE_H_

// Internal to protocol/: bounded readers and writers over cereal's portable
// binary archives. cereal's own std::vector/std::string loaders resize to a
// length read from the input before reading data, so they are never used on
// wire bytes; BodyReader checks each length against the bytes left first.

#include <cstdint>
#include <stdexcept>
#include <streambuf>
#include <string>
#include "absl/strings/string_view.h"
#include <type_traits>
#include <vector>

#include <cereal/archives/portable_binary.hpp>

namespace fedge::protocol::internal {

// Thrown by BodyReader; caught by the codec and turned into a Status.
class WireFormatError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Read-only streambuf over borrowed bytes that knows how many are left.
class SpanStreambuf : public std::streambuf {
 public:
  explicit SpanStreambuf(absl::string_view bytes) {
    char* p = const_cast<char*>(bytes.data());
    setg(p, p, p + bytes.size());
  }
  size_t remaining() const { return static_cast<size_t>(egptr() - gptr()); }
};

// Streambuf appending to a std::string without per-character overhead.
class StringStreambuf : public std::streambuf {
 public:
  explicit StringStreambuf(std::string* out) : out_(out) {}

 protected:
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    out_->append(s, static_cast<size_t>(n));
    return n;
  }
  int_type overflow(int_type ch) override {
    if (ch != traits_type::eof()) out_->push_back(static_cast<char>(ch));
    return ch;
  }

 private:
  std::string* out_;
};

class BodyWriter {
 public:
  explicit BodyWriter(std::string* out)
      : buf_(out), stream_(&buf_),
        ar_(stream_, cereal::PortableBinaryOutputArchive::Options::LittleEndian()) {}

  template <typename T>
  void Scalar(const T& v) {
    static_assert(std::is_arithmetic_v<T> || std::is_enum_v<T>);
    if constexpr (std::is_enum_v<T>) {
      ar_(static_cast<std::underlying_type_t<T>>(v));
    } else {
      ar_(v);
    }
  }
  void String(const std::string& s) {
    ar_(static_cast<uint64_t>(s.size()));
    ar_(cereal::binary_data(s.data(), s.size()));
  }
  template <typename T>
  void Vector(const std::vector<T>& v) {
    static_assert(std::is_arithmetic_v<T>);
    ar_(static_cast<uint64_t>(v.size()));
    ar_(cereal::binary_data(v.data(), v.size() * sizeof(T)));
  }
  // Fixed-size raw bytes (keys, ids): no length prefix.
  // `data` is passed as a prvalue so cereal sees the element type uint8_t
  // (see BodyReader::Bytes).
  void Bytes(const uint8_t* data, size_t n) {
    ar_(cereal::binary_data(static_cast<const uint8_t*>(data), n));
  }

 private:
  StringStreambuf buf_;
  std::ostream stream_;
  cereal::PortableBinaryOutputArchive ar_;
};

class BodyReader {
 public:
  explicit BodyReader(absl::string_view body)
      : buf_(body), stream_(&buf_), ar_(stream_) {}

  template <typename T>
  void Scalar(T& v, const char* field) {
    static_assert(std::is_arithmetic_v<T> || std::is_enum_v<T>);
    Need(sizeof(T), field);
    if constexpr (std::is_enum_v<T>) {
      std::underlying_type_t<T> raw;
      ar_(raw);
      v = static_cast<T>(raw);
    } else {
      ar_(v);
    }
  }
  void String(std::string& s, size_t max_bytes, const char* field) {
    uint64_t n = Length(1, max_bytes, field);
    s.resize(n);
    ar_(cereal::binary_data(s.data(), n));
  }
  template <typename T>
  void Vector(std::vector<T>& v, size_t max_items, const char* field) {
    static_assert(std::is_arithmetic_v<T>);
    uint64_t n = Length(sizeof(T), max_items, field);
    v.resize(n);
    ar_(cereal::binary_data(v.data(), n * sizeof(T)));
  }
  // Fixed-size raw bytes written by BodyWriter::Bytes.
  void Bytes(uint8_t* data, size_t n, const char* field) {
    Need(n, field);
    // A prvalue pointer: from the lvalue `data` cereal would deduce the
    // element type as `uint8_t*&` (8 bytes) and, when the body declares the
    // other byte order, swap the bytes in 8-byte steps, past the end of an
    // n-byte buffer (found by the decode fuzzer). Raw bytes are never swapped.
    ar_(cereal::binary_data(static_cast<uint8_t*>(data), n));
  }
  // Reads a length prefix for items of `item_bytes` each and checks it.
  uint64_t Length(size_t item_bytes, size_t max_items, const char* field) {
    uint64_t n = 0;
    Need(sizeof(n), field);
    ar_(n);
    if (n > max_items) {
      throw WireFormatError(std::string(field) + ": declares " + std::to_string(n) +
                            " items, the limit is " + std::to_string(max_items));
    }
    if (item_bytes > 0 && n > buf_.remaining() / item_bytes) {
      throw WireFormatError(std::string(field) + ": declares " + std::to_string(n) +
                            " items of " + std::to_string(item_bytes) + " bytes, only " +
                            std::to_string(buf_.remaining()) + " bytes remain");
    }
    return n;
  }
  size_t remaining() const { return buf_.remaining(); }

 private:
  void Need(size_t bytes, const char* field) {
    if (buf_.remaining() < bytes) {
      throw WireFormatError(std::string(field) + ": body ends early");
    }
  }

  SpanStreambuf buf_;
  std::istream stream_;
  cereal::PortableBinaryInputArchive ar_;
};

}  // namespace fedge::protocol::internal

#endif  // FEDGE_PROTOCOL_BODY_ARCHIVE_H_
