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
#include <vector>

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

// As fedge_data_source's next_batch: fill up to `max` examples and their
// targets, set *n (0 = end), return 0 or nonzero on failure.
using NextBatchFn = std::function<int(float* examples, float* targets, int max, int* n)>;

// As fedge_data_source: the declaration and the callbacks.
struct DataSource {
  std::vector<int64_t> example_shape;  // one example, e.g. {30} or {1, 28, 28}
  int target_size = 1;                 // floats per example's target
  fedge_dtype example_dtype = FEDGE_DTYPE_F32;
  std::function<int()> reset;          // optional
  NextBatchFn next_batch;              // required for RunOnce
};

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
  DataSource data;                  // unused by a device that only predicts
  std::function<bool()> eligible;   // optional; null = always eligible
  std::string plugin_dir;           // optional
};

class FEDGE_API Client {
 public:
  // Checks the config and the data source's declaration (when next_batch is
  // set), reads the keys and opens the model store; no network.
  static Error Create(ClientConfig config, std::unique_ptr<Client>* out);
  ~Client();
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  Error RunOnce(int64_t timeout_ms, fedge_run_report* report = nullptr);
  void Cancel();
  // As fedge_model_get_info and fedge_model_predict.
  Error GetModelInfo(fedge_model_info* out);
  Error Predict(int n, const float* inputs, size_t inputs_len, float* outputs,
                size_t outputs_len);
  // As fedge_gateway_predict.
  Error GatewayPredict(int n, const float* inputs, size_t inputs_len, float* outputs,
                       size_t outputs_len, int64_t timeout_ms,
                       fedge_predict_report* report = nullptr);

  class Impl;

 private:
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Data files read into memory, as a data source (fedge_idx_open,
// fedge_npy_open, fedge_csv_open).
class FEDGE_API Reader {
 public:
  static Error OpenIdx(const std::string& features_path, const std::string& targets_path,
                       std::unique_ptr<Reader>* out);
  static Error OpenNpy(const std::string& features_path, const std::string& targets_path,
                       std::unique_ptr<Reader>* out);
  // `target_columns`: the CSV's target column names, e.g. {"label"}.
  static Error OpenCsv(const std::string& path, const std::vector<std::string>& target_columns,
                       std::unique_ptr<Reader>* out);
  ~Reader();
  Reader(const Reader&) = delete;
  Reader& operator=(const Reader&) = delete;

  int64_t size() const;  // examples
  const std::vector<int64_t>& example_shape() const;
  int target_size() const;
  fedge_dtype example_dtype() const;  // FEDGE_DTYPE_U8 for 8-bit files
  void Reset() { next_ = 0; }
  // As NextBatchFn; always returns 0.
  int Next(float* examples, float* targets, int max, int* n);
  // A DataSource reading this reader, which must outlive it.
  DataSource Source();

  struct Data;

 private:
  explicit Reader(std::unique_ptr<Data> data);
  // Checks `data` can be served (`what` names the file in errors).
  static Error Adopt(std::unique_ptr<Data> data, const std::string& what,
                     std::unique_ptr<Reader>* out);
  std::unique_ptr<Data> data_;
  int64_t next_ = 0;
};

}  // namespace fedge

#endif  // FEDGE_CLIENT_H_
