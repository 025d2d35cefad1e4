// The C API (fedge/fedge_client.h) over fedge::Client: copies the config,
// adapts the callbacks, keeps each thread's last error message, and lets no
// exception out.

#include <exception>
#include <memory>
#include <new>
#include <string>

#include "fedge/client.h"
#include "fedge/fedge_client.h"

struct fedge_client {
  std::unique_ptr<fedge::Client> impl;
};

struct fedge_idx_reader {
  std::unique_ptr<fedge::IdxReader> impl;
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
    const fedge_data_source data = config->data;
    if (data.reset != nullptr) c.reset_data = [data] { return data.reset(data.user); };
    if (data.next_batch != nullptr) {
      c.next_batch = [data](float* images, int32_t* labels, int max, int* n) {
        return data.next_batch(data.user, images, labels, max, n);
      };
    }
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

fedge_status fedge_model_predict(fedge_client* client, const float* images, int n, float* scores) {
  if (client == nullptr) return Fail(FEDGE_ERR_INVALID_ARGUMENT, "fedge_model_predict: null client");
  return Guard([&] { return client->impl->Predict(images, n, scores); });
}

fedge_status fedge_model_info(fedge_client* client, uint64_t* version, int* num_classes) {
  if (client == nullptr) return Fail(FEDGE_ERR_INVALID_ARGUMENT, "fedge_model_info: null client");
  return Guard([&] { return client->impl->ModelInfo(version, num_classes); });
}

void fedge_client_destroy(fedge_client* client) {
  try {
    delete client;
  } catch (...) {
  }
}

fedge_status fedge_idx_open(const char* images_path, const char* labels_path,
                            fedge_idx_reader** out) {
  if (out != nullptr) *out = nullptr;
  if (images_path == nullptr || labels_path == nullptr || out == nullptr) {
    return Fail(FEDGE_ERR_INVALID_ARGUMENT, "fedge_idx_open: null argument");
  }
  return Guard([&]() -> fedge::Error {
    std::unique_ptr<fedge::IdxReader> r;
    fedge::Error e = fedge::IdxReader::Open(images_path, labels_path, &r);
    if (e.ok()) *out = new fedge_idx_reader{std::move(r)};
    return e;
  });
}

int64_t fedge_idx_size(const fedge_idx_reader* reader) {
  return reader == nullptr ? -1 : reader->impl->size();
}

int fedge_idx_reset(void* reader) {
  if (reader == nullptr) return -1;
  static_cast<fedge_idx_reader*>(reader)->impl->Reset();
  return 0;
}

int fedge_idx_next_batch(void* reader, float* images, int32_t* labels, int max, int* n) {
  if (reader == nullptr || images == nullptr || labels == nullptr || n == nullptr || max < 0) {
    return -1;
  }
  try {
    return static_cast<fedge_idx_reader*>(reader)->impl->Next(images, labels, max, n);
  } catch (...) {
    return -1;
  }
}

void fedge_idx_close(fedge_idx_reader* reader) { delete reader; }

}  // extern "C"
