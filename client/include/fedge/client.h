// fedge device SDK, C++ API (for C++ firmware built with the same toolchain
// and standard library as the SDK; the stable ABI is the C API in
// fedge/fedge_client.h, which is implemented over this class). No LibTorch,
// Abseil or ZeroMQ here. Semantics, threading and error codes are those of
// the C API.

#ifndef FEDGE_CLIENT_H_
#define FEDGE_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "fedge/fedge_client.h"

namespace fedge {

// An error code (fedge_status) and a message; default OK.
class FEDGE_API Error {
 public:
  Error() = default;
  Error(fedge_status code, std::string message) : code_(code), message_(std::move(message)) {}
  bool ok() const { return code_ == FEDGE_OK; }
  fedge_status code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  fedge_status code_ = FEDGE_OK;
  std::string message_;
};

// As fedge_data_source: fill up to `max` examples, set *n (0 = end), return
// 0 or nonzero on failure.
using NextBatchFn = std::function<int(float* images, int32_t* labels, int max, int* n)>;

struct ClientConfig {
  std::string coordinator_endpoint;
  std::string key_file;
  std::string coordinator_pub;
  bool insecure = false;
  std::string storage_dir;
  uint64_t client_id = 0;
  int threads = 1;
  int64_t max_train_ms = 0;
  int64_t max_examples = 0;
  std::function<int()> reset_data;  // optional
  NextBatchFn next_batch;           // required for RunOnce
  std::function<bool()> eligible;   // optional; null = always eligible
  std::string plugin_dir;           // optional
};

class FEDGE_API Client {
 public:
  // Reads the keys and opens the model store; no network.
  static Error Create(ClientConfig config, std::unique_ptr<Client>* out);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  Error RunOnce(int64_t timeout_ms, fedge_run_report* report = nullptr);
  void Cancel();
  // `scores` receives n * num_classes floats.
  Error Predict(const float* images, int n, float* scores);
  Error ModelInfo(uint64_t* version, int* num_classes);

  class Impl;

 private:
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// IDX image/label files as a data source (28x28 images).
class FEDGE_API IdxReader {
 public:
  static Error Open(const std::string& images_path, const std::string& labels_path,
                    std::unique_ptr<IdxReader>* out);
  ~IdxReader();
  int64_t size() const;
  void Reset() { next_ = 0; }
  // As NextBatchFn; always returns 0.
  int Next(float* images, int32_t* labels, int max, int* n);

  struct Data;

 private:
  explicit IdxReader(std::unique_ptr<Data> data);
  std::unique_ptr<Data> data_;
  int64_t next_ = 0;
};

}  // namespace fedge

#endif  // FEDGE_CLIENT_H_
