/* fedge device SDK: the stable C API (the only stable ABI of libfedge_client).
 *
 * A device links libfedge_client.so, creates one fedge_client, and calls
 * fedge_client_run_once() from its own main loop: connect to the coordinator,
 * register, and if a task comes while the device is eligible, train on the
 * device's data and upload the update; the task's model, once its signature
 * verifies, is stored crash-safely in `storage_dir`. fedge_model_predict()
 * runs the newest stored model and needs no network. Strategies that keep
 * per-device state (SCAFFOLD's control variate, FedBN's own normalisation
 * layers) keep it in `storage_dir` too, across check-ins and restarts.
 *
 * Conventions
 *  - Every function returning fedge_status returns FEDGE_OK or an error code;
 *    on error, fedge_last_error() gives a message for the calling thread
 *    (like errno: valid until this thread's next fedge_* call). No exception
 *    ever crosses this API; a NULL handle or argument is FEDGE_ERR_INVALID_ARGUMENT.
 *  - Data of any shape: the data source declares one example's shape
 *    (e.g. {30} features, or {1, 28, 28} for a 28x28 image) and how many
 *    floats make one example's target; examples and targets are float32,
 *    row-major. What the target means (class index, 0/1 label, K labels,
 *    real values) and what the model outputs are the model's task, which
 *    comes with every model the coordinator signs: the device does not
 *    declare it, the SDK checks the device's data against it before
 *    training (FEDGE_ERR_DATA naming the example otherwise), and
 *    fedge_model_get_info() reports it.
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

/* Bumped on any incompatible change of this header. ABI 3 (from 2): the
 * data source declares its example shape, dtype and target size and gives
 * float targets; fedge_model_predict takes examples of the model's input
 * shape and returns outputs of any size (fedge_model_get_info says which).
 * ABI 4 (from 3): fedge_run_report says what differential privacy the task
 * asked of the device (dp_mode, dp_clip, dp_noise_stddev). */
#define FEDGE_ABI_VERSION 4
/* Most dimensions of one example (and of a model's input). */
#define FEDGE_MAX_RANK 8

/* How the SDK keeps a data source's examples while it trains on them. The
 * callback always delivers floats. */
typedef enum fedge_dtype {
  FEDGE_DTYPE_F32 = 0, /* as given (the default) */
  /* Values in [0, 1] kept with 8-bit precision (round(v * 255)), 4x less
   * memory: for images, as IDX files hold them. A value outside [0, 1] is
   * FEDGE_ERR_DATA. */
  FEDGE_DTYPE_U8 = 1
} fedge_dtype;

/* What a model's target is (its task, chosen by the coordinator). */
typedef enum fedge_target {
  FEDGE_TARGET_CLASS = 0,      /* a class index in [0, num_classes); outputs: num_classes logits */
  FEDGE_TARGET_BINARY = 1,     /* 0 or 1; output: one logit (> 0 means 1) */
  FEDGE_TARGET_MULTILABEL = 2, /* num_classes values of 0 or 1; outputs: num_classes logits */
  FEDGE_TARGET_REAL = 3        /* real values; outputs: the predicted values */
} fedge_target;

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
  FEDGE_ERR_DATA = 11,              /* bad data: a callback failed, a value, or data
                                       that does not fit the model's task */
  FEDGE_ERR_INTERNAL = 12,
  /* The coordinator has no task for this device now (not selected, or a
   * round is running without it): come back as the report's retry_after_ms
   * and retry_window_ms say. A newer model, if any, was stored. */
  FEDGE_ERR_RETRY_LATER = 13
} fedge_status;

/* The data the device trains on; it stays the device's.
 *
 * Declared: one example's shape (example_rank dimensions, each > 0, in
 * example_shape; its product is the floats per example), target_size (floats
 * per example's target: 1 for a class index, a 0/1 label or a real scalar;
 * K for K labels or a real vector of K values, flattened row-major for a
 * real target of higher rank) and example_dtype. fedge_client_create checks
 * these; when a task arrives they must equal the model's task (input shape,
 * target size), else run_once fails with FEDGE_ERR_DATA naming both.
 *
 * next_batch fills up to `max` examples (max * floats-per-example floats in
 * `examples`, max * target_size in `targets`; class indices as exact floats,
 * e.g. 3.0f) and sets *n (0 = no more data); returns 0, or nonzero to fail
 * with FEDGE_ERR_DATA. reset (optional) rewinds to the first example; it is
 * called before each pass. run_once makes one pass on its calling thread to
 * count the examples and check their values (nothing is kept; a NaN or
 * infinite value is FEDGE_ERR_DATA) and, only when a task arrives, one pass
 * on fedge's training thread to load them, checked against the task (class
 * indices in range, binary labels 0 or 1) before training starts; the data
 * is freed before run_once returns. Never called concurrently.
 *
 * fedge_reader_source() fills all of this for the readers below. */
typedef struct fedge_data_source {
  void* user;
  int (*reset)(void* user);
  int (*next_batch)(void* user, float* examples, float* targets, int max, int* n);
  int32_t example_rank;
  int64_t example_shape[FEDGE_MAX_RANK];
  int32_t target_size;
  int32_t example_dtype; /* fedge_dtype */
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
  /* The model store, created if missing; also holds local-state.fls, the
   * device's strategy state (README "Device SDK"). One client id per directory. */
  const char* storage_dir;
  uint64_t client_id;
  int threads;                      /* training/inference threads (default 1) */
  int64_t max_train_ms;             /* per task wall time; 0 = unlimited */
  int64_t max_examples;             /* examples read from `data`; 0 = all */
  fedge_data_source data;           /* required for run_once; unused (all zero) for
                                       a device that only predicts */
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
  /* Differential privacy the task asked of this device (docs/privacy.md), so
   * firmware can log what left it: FEDGE_DP_OFF; FEDGE_DP_CENTRAL (nothing
   * done on the device: the coordinator clips and adds the noise);
   * FEDGE_DP_DISTRIBUTED or FEDGE_DP_LOCAL: the update was clipped to L2
   * norm dp_clip before it left, and noise of standard deviation
   * dp_noise_stddev added to each value (LOCAL) or to each fixed-point word
   * of its secure-aggregation input (DISTRIBUTED). 0 when no task arrived. */
  int dp_mode;
  double dp_clip;
  double dp_noise_stddev;
} fedge_run_report;

/* fedge_run_report.dp_mode. */
#define FEDGE_DP_OFF 0
#define FEDGE_DP_CENTRAL 1
#define FEDGE_DP_DISTRIBUTED 2
#define FEDGE_DP_LOCAL 3

/* The newest stored model, as fedge_model_get_info reports it. */
typedef struct fedge_model_info {
  uint64_t version;
  int32_t input_rank;                    /* one example's shape ... */
  int64_t input_shape[FEDGE_MAX_RANK];   /* ... as a data source declares it */
  int64_t input_size;                    /* floats per example in: product of input_shape */
  int64_t output_size;                   /* floats per example fedge_model_predict writes */
  int32_t target;                        /* fedge_target */
  int32_t num_classes;                   /* CLASS and MULTILABEL; 0 otherwise */
  int32_t target_size;                   /* a data source's target_size for this model */
} fedge_model_info;

typedef struct fedge_client fedge_client;
typedef struct fedge_reader fedge_reader;

FEDGE_API const char* fedge_version(void);   /* "0.1.0" */
FEDGE_API int fedge_abi_version(void);       /* FEDGE_ABI_VERSION of the library */
FEDGE_API const char* fedge_status_name(fedge_status status);
/* The message of this thread's last failed call; "" if none. */
FEDGE_API const char* fedge_last_error(void);

/* Zeroes `config`, sets abi_version and defaults (threads = 1). */
FEDGE_API void fedge_config_init(fedge_config* config);

/* Validates the config (and, when data.next_batch is set, the data source's
 * declaration), reads the keys and opens the model store (no network).
 * Strings are copied. A config not made by this header's fedge_config_init
 * (abi_version other than FEDGE_ABI_VERSION, e.g. a program built against
 * the ABI 2 header) is FEDGE_ERR_INVALID_ARGUMENT saying what changed. */
FEDGE_API fedge_status fedge_client_create(const fedge_config* config, fedge_client** out);

/* One check-in: connects, registers and waits up to timeout_ms (> 0) for one
 * task to end. FEDGE_OK when an update was uploaded; FEDGE_ERR_RETRY_LATER
 * when the coordinator had no task for this device (see the report's
 * retry_after_ms); FEDGE_ERR_NOT_ELIGIBLE when the device was or became
 * ineligible; FEDGE_ERR_TIMEOUT when no task ended in time;
 * FEDGE_ERR_CANCELLED; FEDGE_ERR_UNAVAILABLE when the coordinator ended the
 * federation. Every model received (a task's, or the newest one the
 * coordinator sends a device holding an older one) is verified and stored.
 * The device's strategy state (SCAFFOLD's c_i, FedBN's layers) trains the
 * task and, once the update was sent and not refused, is saved crash-safely
 * before returning; otherwise it stays as it was.
 * `report` may be NULL. Tells the coordinator it leaves and disconnects
 * before returning. */
FEDGE_API fedge_status fedge_client_run_once(fedge_client* client, int64_t timeout_ms,
                                             fedge_run_report* report);

/* Makes a running fedge_client_run_once return FEDGE_ERR_CANCELLED promptly
 * (training stops at the next batch); with none running, the next one does.
 * Thread-safe. */
FEDGE_API fedge_status fedge_client_cancel(fedge_client* client);

/* The newest verified stored model: its version and task (what to feed
 * fedge_model_predict and what it returns). Works offline and does not load
 * LibTorch. FEDGE_ERR_NO_MODEL before any model was stored. */
FEDGE_API fedge_status fedge_model_get_info(fedge_client* client, fedge_model_info* out);

/* Runs the newest verified stored model on n examples, offline. `inputs`
 * holds inputs_len floats, of which the first n * input_size are read (n
 * examples of the model's input shape, row-major); `outputs` has room for
 * outputs_len floats, of which the first n * output_size are written (per
 * example: num_classes logits for CLASS and MULTILABEL, one logit for
 * BINARY, the predicted values for REAL), sizes as fedge_model_get_info
 * reports them. A buffer too small is FEDGE_ERR_INVALID_ARGUMENT saying how
 * many floats are needed, so a model of another task arriving between the
 * two calls is never read or written past the buffers. Under FedBN (the
 * device's last task kept normalisation layers local) the device's own
 * normalisation values replace the stored model's.
 * FEDGE_ERR_NO_MODEL before any model was stored. */
FEDGE_API fedge_status fedge_model_predict(fedge_client* client, int n, const float* inputs,
                                           size_t inputs_len, float* outputs,
                                           size_t outputs_len);

/* Who answered a fedge_gateway_predict (fedge_predict_report.source). */
#define FEDGE_PREDICTED_BY_GATEWAY 1
#define FEDGE_PREDICTED_ON_DEVICE 2

/* What one fedge_gateway_predict did. */
typedef struct fedge_predict_report {
  int source;               /* FEDGE_PREDICTED_BY_GATEWAY or FEDGE_PREDICTED_ON_DEVICE */
  uint64_t model_version;   /* the model that predicted */
  int64_t output_size;      /* floats written per example */
  /* FEDGE_OK when the gateway answered; otherwise why not:
   * FEDGE_ERR_TIMEOUT (no answer within timeout_ms), FEDGE_ERR_UNAVAILABLE
   * (unreachable lately and not asked, or it refused: no model yet, busy,
   * not a gateway), FEDGE_ERR_INVALID_ARGUMENT (it refused the inputs),
   * FEDGE_ERR_INTERNAL; gateway_message says more. */
  int gateway_status;
  char gateway_message[256];
} fedge_predict_report;

/* Gateway inference, for a device too small to run the model or without
 * one yet: sends n examples to the gateway at coordinator_endpoint (over
 * CURVE with the device's key, like run_once) and writes the outputs of the
 * gateway's newest verified model (the root's, batched there with other
 * devices' requests), as fedge_model_predict would. `inputs` holds exactly
 * n examples (inputs_len = n x the model's input size); `outputs` has room
 * for outputs_len floats. When the gateway does not answer within
 * timeout_ms (> 0) or refuses for a reason of its own, the newest stored
 * model predicts instead (FEDGE_OK, report->source says which); after a
 * timeout the gateway is not asked again for 1 s, doubling while it stays
 * silent, up to 30 s, so a device whose gateway is down predicts at once.
 * Errors: FEDGE_ERR_INVALID_ARGUMENT for arguments, for buffers too small
 * and when the gateway refuses the inputs (their length, too many
 * examples); the gateway's FEDGE_ERR_TIMEOUT or FEDGE_ERR_UNAVAILABLE when
 * no stored model could stand in. Calls on one handle are serialised; may
 * run while run_once does. `report` may be NULL. */
FEDGE_API fedge_status fedge_gateway_predict(fedge_client* client, int n, const float* inputs,
                                             size_t inputs_len, float* outputs,
                                             size_t outputs_len, int64_t timeout_ms,
                                             fedge_predict_report* report);

FEDGE_API void fedge_client_destroy(fedge_client* client); /* NULL is a no-op */

/* Data files as a data source, read into memory when opened (a device
 * with little memory writes its own callbacks instead). The data/ formats of
 * fedge's tools (docs/data.md); errors name the file (FEDGE_ERR_NOT_FOUND,
 * FEDGE_ERR_DATA for a malformed file).
 *  - IDX files of any dimensionality, e.g. train-images-idx3-ubyte[.gz] and
 *    train-labels-idx1-ubyte[.gz]: 3-d uint8 images become examples of
 *    shape {1, rows, cols} kept as FEDGE_DTYPE_U8.
 *  - Two .npy arrays (features, targets); the first dimension counts
 *    examples. uint8 features are kept as FEDGE_DTYPE_U8 (scaled by 1/255).
 *  - A numeric CSV file with a header line: `target_columns` names the
 *    target column(s), comma-separated (e.g. "label"); every other column
 *    is a feature, so examples have shape {columns - targets}. */
FEDGE_API fedge_status fedge_idx_open(const char* features_path, const char* targets_path,
                                      fedge_reader** out);
FEDGE_API fedge_status fedge_npy_open(const char* features_path, const char* targets_path,
                                      fedge_reader** out);
FEDGE_API fedge_status fedge_csv_open(const char* path, const char* target_columns,
                                      fedge_reader** out);
/* Fills `out` (shape, target size, dtype, callbacks with user = reader) to
 * read `reader`, which must outlive the clients using it. */
FEDGE_API fedge_status fedge_reader_source(fedge_reader* reader, fedge_data_source* out);
FEDGE_API int64_t fedge_reader_size(const fedge_reader* reader);  /* examples; -1 if NULL */
/* The callbacks fedge_reader_source sets; `reader` is a fedge_reader*. */
FEDGE_API int fedge_reader_reset(void* reader);
FEDGE_API int fedge_reader_next_batch(void* reader, float* examples, float* targets, int max,
                                      int* n);
FEDGE_API void fedge_reader_close(fedge_reader* reader);  /* NULL is a no-op */

#ifdef __cplusplus
}  /* extern "C" */
#endif

#endif /* FEDGE_FEDGE_CLIENT_H_ */
