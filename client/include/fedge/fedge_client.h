/* fedge device SDK: the stable C API (the only stable ABI of libfedge_client).
 *
 * A device links libfedge_client.so, creates one fedge_client, and calls
 * fedge_client_run_once() from its own main loop: connect to the coordinator,
 * register, and if a task comes while the device is eligible, train on the
 * device's data and upload the update; the task's model, once its signature
 * verifies, is stored crash-safely in `storage_dir`. fedge_model_predict()
 * runs the newest stored model and needs no network.
 *
 * Conventions
 *  - Every function returning fedge_status returns FEDGE_OK or an error code;
 *    on error, fedge_last_error() gives a message for the calling thread
 *    (like errno: valid until this thread's next fedge_* call). No exception
 *    ever crosses this API; a NULL handle or argument is FEDGE_ERR_INVALID_ARGUMENT.
 *  - Images are 28x28 single-channel floats in [0, 1], row-major,
 *    FEDGE_IMAGE_PIXELS per example (they are stored with 8-bit precision, as
 *    in IDX files). Labels are class indices in [0, 255].
 *  - Handles: a fedge_client may be used from several threads: run_once calls
 *    are serialised (a concurrent second call fails with
 *    FEDGE_ERR_FAILED_PRECONDITION), fedge_model_predict may run while
 *    run_once does, fedge_client_cancel may be called from any thread.
 *    fedge_client_destroy must not race any other call on that handle.
 *  - Structs are extended only at their end, and fedge_config_init() records
 *    the ABI version the caller was compiled against.
 */
#ifndef FEDGE_FEDGE_CLIENT_H_
#define FEDGE_FEDGE_CLIENT_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__)
#define FEDGE_API __attribute__((visibility("default")))
#else
#define FEDGE_API
#endif

/* Bumped on any incompatible change of this header. */
#define FEDGE_ABI_VERSION 2
#define FEDGE_IMAGE_ROWS 28
#define FEDGE_IMAGE_COLS 28
#define FEDGE_IMAGE_PIXELS (FEDGE_IMAGE_ROWS * FEDGE_IMAGE_COLS)

typedef enum fedge_status {
  FEDGE_OK = 0,
  FEDGE_ERR_INVALID_ARGUMENT = 1,   /* NULL or malformed argument, bad config */
  FEDGE_ERR_NOT_FOUND = 2,          /* a file (key, data, plugin) is missing */
  FEDGE_ERR_FAILED_PRECONDITION = 3,/* e.g. run_once already running */
  FEDGE_ERR_NOT_ELIGIBLE = 4,       /* eligible() said no: nothing uploaded */
  FEDGE_ERR_TIMEOUT = 5,            /* no task finished within timeout_ms */
  FEDGE_ERR_CANCELLED = 6,          /* fedge_client_cancel() */
  FEDGE_ERR_UNAVAILABLE = 7,        /* coordinator unreachable or finished */
  FEDGE_ERR_PERMISSION_DENIED = 8,  /* this device's key is not enrolled */
  FEDGE_ERR_UNAUTHENTICATED = 9,    /* a model signature did not verify */
  FEDGE_ERR_NO_MODEL = 10,          /* no verified model stored yet */
  FEDGE_ERR_DATA = 11,              /* the data callback failed or gave bad data */
  FEDGE_ERR_INTERNAL = 12,
  /* The coordinator has no task for this device now (not selected, or a
   * round is running without it): come back as the report's retry_after_ms
   * and retry_window_ms say. A newer model, if any, was stored. */
  FEDGE_ERR_RETRY_LATER = 13
} fedge_status;

/* The data the device trains on; it stays the device's. next_batch fills up
 * to `max` examples (images: max * FEDGE_IMAGE_PIXELS floats, labels: max)
 * and sets *n (0 = no more data); returns 0, or nonzero to fail with
 * FEDGE_ERR_DATA. reset (optional) rewinds to the first example; it is called
 * before each pass. run_once makes one pass on its calling thread to count
 * the examples (nothing is kept) and, only when a task arrives, one pass on
 * fedge's training thread to load them; the data is freed before run_once
 * returns. Never called concurrently. */
typedef struct fedge_data_source {
  void* user;
  int (*reset)(void* user);
  int (*next_batch)(void* user, float* images, int32_t* labels, int max, int* n);
} fedge_data_source;

typedef struct fedge_config {
  uint32_t abi_version;             /* set by fedge_config_init */
  const char* coordinator_endpoint; /* "tcp://host:port" */
  /* CURVE transport and signed models: this device's key file (fedge-keygen
   * device) and the coordinator's coordinator.pub. With insecure != 0,
   * plain TCP (testing only); coordinator_pub, if set, still checks model
   * signatures, else unsigned models are accepted. */
  const char* key_file;
  const char* coordinator_pub;
  int insecure;
  const char* storage_dir;          /* the model store; created if missing */
  uint64_t client_id;
  int threads;                      /* training/inference threads (default 1) */
  int64_t max_train_ms;             /* per task wall time; 0 = unlimited */
  int64_t max_examples;             /* examples read from `data`; 0 = all */
  fedge_data_source data;           /* required for run_once */
  /* Optional: nonzero when the device may train now (charging, idle,
   * unmetered...). Checked before connecting, before training and between
   * batches (on the training thread; keep it cheap). When it fails, training
   * stops at the next batch, nothing is uploaded and the coordinator is told
   * the client left the round. NULL: always eligible. */
  int (*eligible)(void* user);
  void* eligible_user;
  /* Optional: directory holding libfedge_torch_plugin.so; default: the
   * library's own directory/fedge, then the usual places. */
  const char* plugin_dir;
} fedge_config;

/* What one fedge_client_run_once did. */
typedef struct fedge_run_report {
  int task_received;                /* a task arrived */
  int trained;                      /* training completed */
  int uploaded;                     /* the update was sent */
  uint64_t round;
  uint64_t task_model_version;
  uint64_t stored_model_version;    /* newest model in the store; 0 = none */
  int64_t examples;                 /* examples read from the data source */
  /* When to check in next, as the coordinator advised: no sooner than
   * retry_after_ms from now, at a random point of the following
   * retry_window_ms. -1 when it gave no advice (then poll as you see fit). */
  int64_t retry_after_ms;
  int64_t retry_window_ms;
} fedge_run_report;

typedef struct fedge_client fedge_client;
typedef struct fedge_idx_reader fedge_idx_reader;

FEDGE_API const char* fedge_version(void);   /* "0.1.0" */
FEDGE_API int fedge_abi_version(void);       /* FEDGE_ABI_VERSION of the library */
FEDGE_API const char* fedge_status_name(fedge_status status);
/* The message of this thread's last failed call; "" if none. */
FEDGE_API const char* fedge_last_error(void);

/* Zeroes `config`, sets abi_version and defaults (threads = 1). */
FEDGE_API void fedge_config_init(fedge_config* config);

/* Validates the config, reads the keys and opens the model store (no network).
 * Strings are copied. */
FEDGE_API fedge_status fedge_client_create(const fedge_config* config, fedge_client** out);

/* One check-in: connects, registers and waits up to timeout_ms (> 0) for one
 * task to end. FEDGE_OK when an update was uploaded; FEDGE_ERR_RETRY_LATER
 * when the coordinator had no task for this device (see the report's
 * retry_after_ms); FEDGE_ERR_NOT_ELIGIBLE when the device was or became
 * ineligible; FEDGE_ERR_TIMEOUT when no task ended in time;
 * FEDGE_ERR_CANCELLED; FEDGE_ERR_UNAVAILABLE when the coordinator ended the
 * federation. Every model received (a task's, or the newest one the
 * coordinator sends a device holding an older one) is verified and stored.
 * `report` may be NULL. Tells the coordinator it leaves and disconnects
 * before returning. */
FEDGE_API fedge_status fedge_client_run_once(fedge_client* client, int64_t timeout_ms,
                                             fedge_run_report* report);

/* Makes a running fedge_client_run_once return FEDGE_ERR_CANCELLED promptly
 * (training stops at the next batch); with none running, the next one does.
 * Thread-safe. */
FEDGE_API fedge_status fedge_client_cancel(fedge_client* client);

/* Class scores (logits) of the newest verified stored model for n images:
 * scores receives n * num_classes floats. Works offline.
 * FEDGE_ERR_NO_MODEL before any model was stored. */
FEDGE_API fedge_status fedge_model_predict(fedge_client* client, const float* images, int n,
                                           float* scores);
/* The stored model's version and class count. FEDGE_ERR_NO_MODEL if none. */
FEDGE_API fedge_status fedge_model_info(fedge_client* client, uint64_t* version,
                                        int* num_classes);

FEDGE_API void fedge_client_destroy(fedge_client* client); /* NULL is a no-op */

/* IDX files (e.g. MNIST train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz])
 * as a data source: set data.user = reader, data.reset = fedge_idx_reset,
 * data.next_batch = fedge_idx_next_batch. */
FEDGE_API fedge_status fedge_idx_open(const char* images_path, const char* labels_path,
                                      fedge_idx_reader** out);
FEDGE_API int64_t fedge_idx_size(const fedge_idx_reader* reader);
FEDGE_API int fedge_idx_reset(void* reader);
FEDGE_API int fedge_idx_next_batch(void* reader, float* images, int32_t* labels, int max, int* n);
FEDGE_API void fedge_idx_close(fedge_idx_reader* reader);

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif /* FEDGE_FEDGE_CLIENT_H_ */
