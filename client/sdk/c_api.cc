// The C API (fedge/fedge_client.h) over fedge::Client: copies the config,
// adapts the callbacks, keeps each thread's last error message, and lets no
// exception out.

#include <algorithm>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "fedge/client.h"
#include "fedge/fedge_client.h"

struct fedge_client {
  std::unique_ptr<fedge::Client> impl;
};

struct fedge_reader {
  std::unique_ptr<fedge::Reader> impl;
};

namespace {

thread_local std::string last_error;

fedge_status Fail(fedge_status code, std::string message) {
  last_error = std::move(message);
  return code;
}

fedge_status Report(const fedge::Error& e) {
  return e.ok() ? FEDGE_OK : Fail(e.code(), e.message());
}

// Runs `fn` (returning fedge::Error) with every exception turned into a code.
template <typename Fn>
fedge_status Guard(Fn&& fn) {
  try {
    return Report(fn());
  } catch (const std::bad_alloc&) {
    return Fail(FEDGE_ERR_INTERNAL, "out of memory");
  } catch (const std::exception& e) {
    return Fail(FEDGE_ERR_INTERNAL, std::string("internal error: ") + e.what());
  } catch (...) {
    return Fail(FEDGE_ERR_INTERNAL, "internal error: unknown exception");
  }
}

std::string Str(const char* s) { return s == nullptr ? std::string() : std::string(s); }

// The C data source as a C++ one. Without next_batch (a device that only
// predicts) the declaration is ignored; with it the rank is checked here,
// before example_shape is read, and the rest by Client::Create.
fedge::Error AdaptDataSource(const fedge_data_source& data, fedge::DataSource* out) {
  if (data.next_batch == nullptr) return fedge::Error();
  if (data.example_rank < 1 || data.example_rank > FEDGE_MAX_RANK) {
    return fedge::Error(FEDGE_ERR_INVALID_ARGUMENT,
                        "data.example_rank is " + std::to_string(data.example_rank) +
                            "; want 1 to " + std::to_string(FEDGE_MAX_RANK) +
                            " (the dimensions of one example, e.g. 1 for 30 features)");
  }
  // Checked before the conversion: an int that names no fedge_dtype must
  // not become one (UBSan rightly calls loading such an enum undefined).
  if (data.example_dtype != FEDGE_DTYPE_F32 && data.example_dtype != FEDGE_DTYPE_U8) {
    return fedge::Error(FEDGE_ERR_INVALID_ARGUMENT,
                        "data.example_dtype is " + std::to_string(data.example_dtype) +
                            "; want FEDGE_DTYPE_F32 (0) or FEDGE_DTYPE_U8 (1)");
  }
  out->example_shape.assign(data.example_shape, data.example_shape + data.example_rank);
  out->target_size = data.target_size;
  out->example_dtype = static_cast<fedge_dtype>(data.example_dtype);
  if (data.reset != nullptr) out->reset = [data] { return data.reset(data.user); };
  out->next_batch = [data](float* examples, float* targets, int max, int* n) {
    return data.next_batch(data.user, examples, targets, max, n);
  };
  return fedge::Error();
}

// "a, b" -> {"a", "b"}.
std::vector<std::string> SplitColumns(const char* columns) {
  std::vector<std::string> out;
  std::string cur;
  for (const char* p = columns;; ++p) {
    if (*p == ',' || *p == '\0') {
      const size_t b = cur.find_first_not_of(' '), e = cur.find_last_not_of(' ');
      if (b != std::string::npos) out.push_back(cur.substr(b, e - b + 1));
      cur.clear();
      if (*p == '\0') break;
    } else {
      cur += *p;
    }
  }
  return out;
}

// Opens a reader with `open` (a fedge::Reader factory), as the C function `fn`.
template <typename Open>
fedge_status OpenReader(const char* fn, fedge_reader** out, bool args_ok, Open&& open) {
  if (out != nullptr) *out = nullptr;
  if (!args_ok || out == nullptr) {
    return Fail(FEDGE_ERR_INVALID_ARGUMENT, std::string(fn) + ": null argument");
  }
  return Guard([&]() -> fedge::Error {
    std::unique_ptr<fedge::Reader> r;
    fedge::Error e = open(&r);
    if (e.ok()) *out = new fedge_reader{std::move(r)};
    return e;
  });
}

}  // namespace

extern "C" {

const char* fedge_version(void) { return "0.1.0"; }
int fedge_abi_version(void) { return FEDGE_ABI_VERSION; }
const char* fedge_last_error(void) { return last_error.c_str(); }

const char* fedge_status_name(fedge_status status) {
  switch (status) {
    case FEDGE_OK: return "OK";
    case FEDGE_ERR_INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case FEDGE_ERR_NOT_FOUND: return "NOT_FOUND";
    case FEDGE_ERR_FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case FEDGE_ERR_NOT_ELIGIBLE: return "NOT_ELIGIBLE";
    case FEDGE_ERR_TIMEOUT: return "TIMEOUT";
    case FEDGE_ERR_CANCELLED: return "CANCELLED";
    case FEDGE_ERR_UNAVAILABLE: return "UNAVAILABLE";
    case FEDGE_ERR_PERMISSION_DENIED: return "PERMISSION_DENIED";
    case FEDGE_ERR_UNAUTHENTICATED: return "UNAUTHENTICATED";
    case FEDGE_ERR_NO_MODEL: return "NO_MODEL";
    case FEDGE_ERR_DATA: return "DATA";
    case FEDGE_ERR_INTERNAL: return "INTERNAL";
    case FEDGE_ERR_RETRY_LATER: return "RETRY_LATER";
  }
  return "UNKNOWN";
}

void fedge_config_init(fedge_config* config) {
  if (config == nullptr) return;
  *config = fedge_config{};
  config->abi_version = FEDGE_ABI_VERSION;
  config->threads = 1;
}

fedge_status fedge_client_create(const fedge_config* config, fedge_client** out) {
  if (out != nullptr) *out = nullptr;
  if (config == nullptr || out == nullptr) {
    return Fail(FEDGE_ERR_INVALID_ARGUMENT, "fedge_client_create: config and out must be non-null");
  }
  // Only abi_version, the first field, is read from a config of another ABI.
  if (config->abi_version == 2) {
    return Fail(FEDGE_ERR_INVALID_ARGUMENT,
                "fedge_client_create: config built for fedge ABI 2; this library is ABI " +
                    std::to_string(FEDGE_ABI_VERSION) +
                    ": since ABI 3 fedge_data_source declares example_rank/example_shape/"
                    "target_size/example_dtype and next_batch gives float targets, and "
                    "fedge_model_predict takes buffer lengths (fedge_model_get_info gives the "
                    "sizes); rebuild against the new fedge/fedge_client.h");
  }
  if (config->abi_version == 3) {
    return Fail(FEDGE_ERR_INVALID_ARGUMENT,
                "fedge_client_create: config built for fedge ABI 3; this library is ABI " +
                    std::to_string(FEDGE_ABI_VERSION) +
                    ": since ABI 4 fedge_run_report ends with dp_mode, dp_clip and "
                    "dp_noise_stddev (what differential privacy the task asked of the device); "
                    "rebuild against the new fedge/fedge_client.h");
  }
  if (config->abi_version != FEDGE_ABI_VERSION) {
    return Fail(FEDGE_ERR_INVALID_ARGUMENT,
                "fedge_client_create: config not initialised with fedge_config_init, or built "
                "against another FEDGE_ABI_VERSION (library: " +
                    std::to_string(FEDGE_ABI_VERSION) + ")");
  }
  return Guard([&]() -> fedge::Error {
    fedge::ClientConfig c;
    c.coordinator_endpoint = Str(config->coordinator_endpoint);
    c.key_file = Str(config->key_file);
    c.coordinator_pub = Str(config->coordinator_pub);
    c.insecure = config->insecure != 0;
    c.storage_dir = Str(config->storage_dir);
    c.client_id = config->client_id;
    c.threads = config->threads;
    c.max_train_ms = config->max_train_ms;
    c.max_examples = config->max_examples;
    c.plugin_dir = Str(config->plugin_dir);
    if (fedge::Error e = AdaptDataSource(config->data, &c.data); !e.ok()) return e;
    if (config->eligible != nullptr) {
      c.eligible = [f = config->eligible, u = config->eligible_user] { return f(u) != 0; };
    }
    std::unique_ptr<fedge::Client> client;
    fedge::Error e = fedge::Client::Create(std::move(c), &client);
    if (!e.ok()) return e;
    *out = new fedge_client{std::move(client)};
    return e;
  });
}

fedge_status fedge_client_run_once(fedge_client* client, int64_t timeout_ms,
                                   fedge_run_report* report) {
  if (client == nullptr) return Fail(FEDGE_ERR_INVALID_ARGUMENT, "fedge_client_run_once: null client");
  return Guard([&] { return client->impl->RunOnce(timeout_ms, report); });
}

fedge_status fedge_client_cancel(fedge_client* client) {
  if (client == nullptr) return Fail(FEDGE_ERR_INVALID_ARGUMENT, "fedge_client_cancel: null client");
  return Guard([&] {
    client->impl->Cancel();
    return fedge::Error();
  });
}

fedge_status fedge_model_get_info(fedge_client* client, fedge_model_info* out) {
  if (client == nullptr) return Fail(FEDGE_ERR_INVALID_ARGUMENT, "fedge_model_get_info: null client");
  return Guard([&] { return client->impl->GetModelInfo(out); });
}

fedge_status fedge_model_predict(fedge_client* client, int n, const float* inputs,
                                 size_t inputs_len, float* outputs, size_t outputs_len) {
  if (client == nullptr) return Fail(FEDGE_ERR_INVALID_ARGUMENT, "fedge_model_predict: null client");
  return Guard([&] { return client->impl->Predict(n, inputs, inputs_len, outputs, outputs_len); });
}

fedge_status fedge_gateway_predict(fedge_client* client, int n, const float* inputs,
                                   size_t inputs_len, float* outputs, size_t outputs_len,
                                   int64_t timeout_ms, fedge_predict_report* report) {
  if (client == nullptr) {
    return Fail(FEDGE_ERR_INVALID_ARGUMENT, "fedge_gateway_predict: null client");
  }
  return Guard([&] {
    return client->impl->GatewayPredict(n, inputs, inputs_len, outputs, outputs_len, timeout_ms,
                                        report);
  });
}

void fedge_client_destroy(fedge_client* client) {
  try {
    delete client;
  } catch (...) {
  }
}

fedge_status fedge_idx_open(const char* features_path, const char* targets_path,
                            fedge_reader** out) {
  return OpenReader("fedge_idx_open", out, features_path != nullptr && targets_path != nullptr,
                    [&](std::unique_ptr<fedge::Reader>* r) {
                      return fedge::Reader::OpenIdx(features_path, targets_path, r);
                    });
}

fedge_status fedge_npy_open(const char* features_path, const char* targets_path,
                            fedge_reader** out) {
  return OpenReader("fedge_npy_open", out, features_path != nullptr && targets_path != nullptr,
                    [&](std::unique_ptr<fedge::Reader>* r) {
                      return fedge::Reader::OpenNpy(features_path, targets_path, r);
                    });
}

fedge_status fedge_csv_open(const char* path, const char* target_columns, fedge_reader** out) {
  return OpenReader("fedge_csv_open", out, path != nullptr && target_columns != nullptr,
                    [&](std::unique_ptr<fedge::Reader>* r) {
                      return fedge::Reader::OpenCsv(path, SplitColumns(target_columns), r);
                    });
}

fedge_status fedge_reader_source(fedge_reader* reader, fedge_data_source* out) {
  if (reader == nullptr || out == nullptr) {
    return Fail(FEDGE_ERR_INVALID_ARGUMENT, "fedge_reader_source: null argument");
  }
  fedge_data_source s{};
  s.user = reader;
  s.reset = fedge_reader_reset;
  s.next_batch = fedge_reader_next_batch;
  const std::vector<int64_t>& shape = reader->impl->example_shape();
  s.example_rank = static_cast<int32_t>(shape.size());  // 1..FEDGE_MAX_RANK (Reader checks)
  std::copy(shape.begin(), shape.end(), s.example_shape);
  s.target_size = reader->impl->target_size();
  s.example_dtype = reader->impl->example_dtype();
  *out = s;
  return FEDGE_OK;
}

int64_t fedge_reader_size(const fedge_reader* reader) {
  return reader == nullptr ? -1 : reader->impl->size();
}

int fedge_reader_reset(void* reader) {
  if (reader == nullptr) return -1;
  static_cast<fedge_reader*>(reader)->impl->Reset();
  return 0;
}

int fedge_reader_next_batch(void* reader, float* examples, float* targets, int max, int* n) {
  if (reader == nullptr || examples == nullptr || targets == nullptr || n == nullptr || max < 0) {
    return -1;
  }
  try {
    return static_cast<fedge_reader*>(reader)->impl->Next(examples, targets, max, n);
  } catch (...) {
    return -1;
  }
}

void fedge_reader_close(fedge_reader* reader) { delete reader; }

}  // extern "C"
