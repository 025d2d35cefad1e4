/* A simulated device using the fedge C API.
 *
 *   device_main train ENDPOINT STORE_DIR DATA [CLIENT_ID [ROUNDS [KEY PUB]]]
 *     the device main loop: when "charging", take part in federated rounds
 *     (fedge_client_run_once) until ROUNDS (default 1) uploaded, then exit,
 *     coming back when the coordinator advises. With KEY (this device's key
 *     file, fedge-keygen device) and PUB (the coordinator's coordinator.pub):
 *     CURVE and signed models; without: plain TCP (--insecure coordinator).
 *   device_main predict STORE_DIR DATA
 *     offline: run the newest stored model on (up to 1000 of) DATA's
 *     examples and score its outputs as the model's task says.
 *
 * DATA is one of
 *   idx IMAGES LABELS      IDX files, e.g. Fashion-MNIST's
 *                          train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz
 *                          (28x28 images: examples of shape {1, 28, 28})
 *   csv FILE LABEL_COLUMN  a numeric CSV with a header, e.g. 30 features and
 *                          a 0/1 "label" column (examples of shape {30})
 *   npy FEATURES TARGETS   two .npy arrays
 * The model's task (input shape, target) comes from the coordinator with
 * the model; the device's data must match it, which the SDK checks.
 */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <fedge/fedge_client.h>

#define CHECK(call)                                                          \
  do {                                                                       \
    fedge_status s_ = (call);                                                \
    if (s_ != FEDGE_OK) {                                                    \
      fprintf(stderr, "%s: %s: %s\n", #call, fedge_status_name(s_),          \
              fedge_last_error());                                           \
      return 1;                                                              \
    }                                                                        \
  } while (0)

/* The device's own condition, e.g. read from the power controller. */
static int charging(void* user) {
  (void)user;
  return 1;
}

/* Opens DATA (three arguments, see above). */
static fedge_status open_data(char** data, fedge_reader** reader) {
  if (strcmp(data[0], "idx") == 0) return fedge_idx_open(data[1], data[2], reader);
  if (strcmp(data[0], "csv") == 0) return fedge_csv_open(data[1], data[2], reader);
  if (strcmp(data[0], "npy") == 0) return fedge_npy_open(data[1], data[2], reader);
  fprintf(stderr, "unknown data kind '%s': idx, csv or npy\n", data[0]);
  return FEDGE_ERR_INVALID_ARGUMENT;
}

/* Waits as the coordinator advised: at least after_ms, then a random part of
 * the window so that a fleet's devices do not all come back at once. A real
 * device would power down meanwhile. */
static void wait_as_advised(const fedge_run_report* report) {
  int64_t ms = report->retry_after_ms;
  if (ms < 0) ms = 1000; /* no advice: poll gently */
  if (report->retry_window_ms > 0) ms += rand() % (report->retry_window_ms + 1);
  struct timespec t = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  printf("coming back in %lld ms\n", (long long)ms);
  nanosleep(&t, NULL);
}

static int train(const char* endpoint, const char* store, fedge_reader* reader, uint64_t id,
                 int rounds, const char* key_file, const char* coordinator_pub) {
  fedge_config config;
  fedge_config_init(&config);
  config.coordinator_endpoint = endpoint;
  config.key_file = key_file;
  config.coordinator_pub = coordinator_pub;
  config.insecure = key_file == NULL;
  config.storage_dir = store;
  config.client_id = id;
  config.max_examples = 1000;
  config.max_train_ms = 60000;
  CHECK(fedge_reader_source(reader, &config.data)); /* shape, target size, callbacks */
  config.eligible = charging;
  fedge_client* client = NULL;
  CHECK(fedge_client_create(&config, &client));

  int rc = 1, uploaded = 0;
  for (int attempt = 0; attempt < 10 + rounds; ++attempt) { /* the device main loop */
    if (!charging(NULL)) continue;
    fedge_run_report report;
    fedge_status s = fedge_client_run_once(client, 120000, &report);
    printf("run_once: %s round=%llu uploaded=%d stored_model=%llu examples=%lld %s\n",
           fedge_status_name(s), (unsigned long long)report.round, report.uploaded,
           (unsigned long long)report.stored_model_version, (long long)report.examples,
           s == FEDGE_OK ? "" : fedge_last_error());
    if (s == FEDGE_OK && ++uploaded == rounds) {
      rc = 0;
      break;
    }
    if (s == FEDGE_ERR_UNAVAILABLE) break; /* the federation is over */
    if (s != FEDGE_OK && s != FEDGE_ERR_RETRY_LATER && s != FEDGE_ERR_TIMEOUT &&
        s != FEDGE_ERR_NOT_ELIGIBLE) {
      break;
    }
    wait_as_advised(&report);
  }
  fedge_client_destroy(client);
  return rc;
}

/* "classes:10", "binary", "multilabel:5" or "real". */
static void target_name(const fedge_model_info* info, char* out, size_t size) {
  switch (info->target) {
    case FEDGE_TARGET_CLASS: snprintf(out, size, "classes:%d", info->num_classes); break;
    case FEDGE_TARGET_BINARY: snprintf(out, size, "binary"); break;
    case FEDGE_TARGET_MULTILABEL: snprintf(out, size, "multilabel:%d", info->num_classes); break;
    default: snprintf(out, size, "real"); break;
  }
}

/* Prints how well `out` (n examples' outputs) matches the targets `y`: the
 * share of labels right for class, binary and multi-label targets, the mean
 * squared error for real ones. */
static void score(const fedge_model_info* info, const float* out, const float* y, int n) {
  const int64_t k = info->output_size;
  double right = 0, judged = 0, squared = 0;
  for (int i = 0; i < n; ++i) {
    const float* o = out + i * k;
    if (info->target == FEDGE_TARGET_CLASS) {
      int best = 0;
      for (int c = 1; c < k; ++c) best = o[c] > o[best] ? c : best;
      right += best == (int)y[i];
      judged += 1;
    } else if (info->target == FEDGE_TARGET_REAL) {
      for (int c = 0; c < k; ++c) squared += (o[c] - y[i * k + c]) * (o[c] - y[i * k + c]);
      judged += (double)k;
    } else { /* binary, multi-label: logit > 0 means 1 */
      for (int c = 0; c < k; ++c) right += (o[c] > 0) == (y[i * k + c] > 0.5f);
      judged += (double)k;
    }
  }
  if (info->target == FEDGE_TARGET_REAL) {
    printf("predict: mse %.4f on %d examples\n", squared / judged, n);
  } else {
    printf("predict: accuracy %.4f on %d examples (%.0f of %.0f labels right)\n", right / judged,
           n, right, judged);
  }
}

static int predict(const char* store, fedge_reader* reader) {
  fedge_config config;
  fedge_config_init(&config);
  config.insecure = 1; /* no coordinator needed for inference */
  config.storage_dir = store;
  fedge_client* client = NULL;
  CHECK(fedge_client_create(&config, &client));
  fedge_model_info info;
  CHECK(fedge_model_get_info(client, &info));
  fedge_data_source data;
  CHECK(fedge_reader_source(reader, &data));
  int same = data.example_rank == info.input_rank && data.target_size == info.target_size;
  for (int d = 0; same && d < info.input_rank; ++d) same = data.example_shape[d] == info.input_shape[d];
  char target[32], shape[128] = "";
  target_name(&info, target, sizeof target);
  for (int d = 0; d < info.input_rank; ++d) {
    snprintf(shape + strlen(shape), sizeof shape - strlen(shape), d ? ",%lld" : "%lld",
             (long long)info.input_shape[d]);
  }
  printf("predict: model %llu, target %s, input [%s], %lld outputs per example\n",
         (unsigned long long)info.version, target, shape, (long long)info.output_size);
  if (!same) {
    fprintf(stderr, "the data's examples or targets are not of the model's task\n");
    return 1;
  }

  enum { N = 1000 };
  float* x = malloc(sizeof(float) * N * (size_t)info.input_size);
  float* y = malloc(sizeof(float) * N * (size_t)info.target_size);
  float* out = malloc(sizeof(float) * N * (size_t)info.output_size);
  int n = 0;
  if (x == NULL || y == NULL || out == NULL || fedge_reader_next_batch(reader, x, y, N, &n) != 0) {
    return 1;
  }
  CHECK(fedge_model_predict(client, n, x, (size_t)n * info.input_size, out,
                            (size_t)n * info.output_size));
  printf("predict: first outputs");
  for (int i = 0; i < 3 * info.output_size && i < n * info.output_size; ++i) {
    printf(" %.4g", out[i]);
  }
  printf("\n");
  score(&info, out, y, n);
  free(x);
  free(y);
  free(out);
  fedge_client_destroy(client);
  return 0;
}

static int usage(const char* self) {
  fprintf(stderr,
          "usage: %s train ENDPOINT STORE DATA [ID [ROUNDS [KEY PUB]]] | predict STORE DATA\n"
          "  DATA: idx IMAGES LABELS | csv FILE LABEL_COLUMN | npy FEATURES TARGETS\n",
          self);
  return 2;
}

int main(int argc, char** argv) {
  printf("fedge %s (ABI %d)\n", fedge_version(), fedge_abi_version());
  const int train_mode = argc >= 7 && strcmp(argv[1], "train") == 0;
  const int predict_mode = argc == 6 && strcmp(argv[1], "predict") == 0;
  /* train: argv[4..6] is DATA, then up to 4 optional arguments (KEY needs PUB) */
  if ((!train_mode && !predict_mode) || (train_mode && (argc > 11 || argc == 10))) {
    return usage(argv[0]);
  }
  fedge_reader* reader = NULL;
  CHECK(open_data(argv + (train_mode ? 4 : 3), &reader));
  int rc;
  if (train_mode) {
    rc = train(argv[2], argv[3], reader, argc > 7 ? strtoull(argv[7], NULL, 10) : 0,
               argc > 8 ? atoi(argv[8]) : 1, argc > 10 ? argv[9] : NULL,
               argc > 10 ? argv[10] : NULL);
  } else {
    rc = predict(argv[2], reader);
  }
  fedge_reader_close(reader);
  return rc;
}
