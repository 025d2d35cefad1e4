#ifndef FEDGE_SECURE_SECRET_BYTES_H_
#define FEDGE_SECURE_SECRET_BYTES_H_

// SecretBytes: a fixed-size, move-only, heap-owned byte buffer for key
// material. Its bytes are wiped with OPENSSL_cleanse when it is destroyed or
// assigned over; moving hands the buffer itself to the destination and leaves
// the source empty, so no unwiped copy remains anywhere. A secret thus does
// not outlive its owner in freed memory. It never prints its contents and has no copy constructor; use
// Copy() where a second owner is really wanted.
//
// The buffer never reallocates (its size is fixed at construction), so no
// stale copy is left behind by growth. Not thread-safe; const access from
// several threads is fine.

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <utility>

#include <openssl/crypto.h>

#include "absl/types/span.h"

namespace fedge::secure {

class SecretBytes {
 public:
  // An empty buffer.
  SecretBytes() = default;

  // `size` zero bytes.
  explicit SecretBytes(size_t size)
      : data_(size == 0 ? nullptr : new uint8_t[size]()), size_(size) {}

  // A copy of `bytes` (e.g. a key read from a peer or a test vector).
  static SecretBytes CopyOf(absl::Span<const uint8_t> bytes) {
    SecretBytes out(bytes.size());
    if (!bytes.empty()) std::memcpy(out.data_.get(), bytes.data(), bytes.size());
    return out;
  }

  SecretBytes(SecretBytes&& other) noexcept
      : data_(std::move(other.data_)), size_(std::exchange(other.size_, 0)) {}

  SecretBytes& operator=(SecretBytes&& other) noexcept {
    if (this != &other) {
      Wipe();
      data_ = std::move(other.data_);
      size_ = std::exchange(other.size_, 0);
    }
    return *this;
  }

  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;

  ~SecretBytes() { Wipe(); }

  // An explicit second owner of the same bytes.
  SecretBytes Copy() const { return CopyOf(span()); }

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  const uint8_t* data() const { return data_.get(); }
  uint8_t* data() { return data_.get(); }
  absl::Span<const uint8_t> span() const { return {data_.get(), size_}; }
  absl::Span<uint8_t> mutable_span() { return {data_.get(), size_}; }

  // Constant-time comparison of contents (sizes are not secret).
  bool Equals(absl::Span<const uint8_t> other) const {
    return other.size() == size_ &&
           (size_ == 0 || CRYPTO_memcmp(data_.get(), other.data(), size_) == 0);
  }

 private:
  // Zeroes and frees the buffer, leaving *this empty.
  void Wipe() {
    if (data_ != nullptr) OPENSSL_cleanse(data_.get(), size_);
    data_.reset();
    size_ = 0;
  }

  std::unique_ptr<uint8_t[]> data_;
  size_t size_ = 0;
};

}  // namespace fedge::secure

#endif  // FEDGE_SECURE_SECRET_BYTES_H_
