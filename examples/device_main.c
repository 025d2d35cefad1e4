/* A simulated device using the fedge C API.
 *
 *   device_main train ENDPOINT STORE_DIR DATA_DIR [CLIENT_ID [ROUNDS [KEY PUB]]]
 *     the device main loop: when "charging", take part in federated rounds
 *     (fedge_client_run_once) until ROUNDS (default 1) uploaded, then exit,
 *     coming back when the coordinator advises; data from
 *     DATA_DIR/train-*-idx*-ubyte.gz. With KEY (this device's key file,
 *     fedge-keygen device) and PUB (the coordinator's coordinator.pub):
 *     CURVE and signed models; without: plain TCP (--insecure coordinator).
 *   device_main predict STORE_DIR DATA_DIR
 *     offline: classify 100 test images with the newest stored model.
 */
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

static int train(const char* endpoint, const char* store, const char* data, uint64_t id,
                 int rounds, const char* key_file, const char* coordinator_pub) {
  char images[1024], labels[1024];
  snprintf(images, sizeof images, "%s/train-images-idx3-ubyte.gz", data);
  snprintf(labels, sizeof labels, "%s/train-labels-idx1-ubyte.gz", data);
  fedge_idx_reader* reader = NULL;
  CHECK(fedge_idx_open(images, labels, &reader));

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
  config.data.user = reader;
  config.data.reset = fedge_idx_reset;
  config.data.next_batch = fedge_idx_next_batch;
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
  fedge_idx_close(reader);
  return rc;
}

static int predict(const char* store, const char* data) {
  char images[1024], labels[1024];
  snprintf(images, sizeof images, "%s/t10k-images-idx3-ubyte.gz", data);
  snprintf(labels, sizeof labels, "%s/t10k-labels-idx1-ubyte.gz", data);
  fedge_idx_reader* reader = NULL;
  CHECK(fedge_idx_open(images, labels, &reader));
  fedge_config config;
  fedge_config_init(&config);
  config.insecure = 1; /* no coordinator needed for inference */
  config.storage_dir = store;
  fedge_client* client = NULL;
  CHECK(fedge_client_create(&config, &client));
  uint64_t version = 0;
  int classes = 0;
  CHECK(fedge_model_info(client, &version, &classes));

  enum { N = 100 };
  float* x = malloc(sizeof(float) * N * FEDGE_IMAGE_PIXELS);
  float* scores = malloc(sizeof(float) * N * (size_t)classes);
  int32_t y[N];
  int n = 0;
  if (fedge_idx_next_batch(reader, x, y, N, &n) != 0 || n != N) return 1;
  CHECK(fedge_model_predict(client, x, n, scores));
  int correct = 0;
  for (int i = 0; i < n; ++i) {
    int best = 0;
    for (int k = 1; k < classes; ++k) {
      if (scores[i * classes + k] > scores[i * classes + best]) best = k;
    }
    correct += best == y[i];
  }
  printf("predict: model %llu, %d classes, %d/%d correct\n", (unsigned long long)version, classes,
         correct, n);
  free(x);
  free(scores);
  fedge_client_destroy(client);
  fedge_idx_close(reader);
  return 0;
}

int main(int argc, char** argv) {
  printf("fedge %s (ABI %d)\n", fedge_version(), fedge_abi_version());
  if (argc >= 5 && argc != 8 && argc <= 9 && strcmp(argv[1], "train") == 0) {
    return train(argv[2], argv[3], argv[4], argc > 5 ? strtoull(argv[5], NULL, 10) : 0,
                 argc > 6 ? atoi(argv[6]) : 1, argc > 8 ? argv[7] : NULL,
                 argc > 8 ? argv[8] : NULL);
  }
  if (argc == 4 && strcmp(argv[1], "predict") == 0) return predict(argv[2], argv[3]);
  fprintf(stderr,
          "usage: %s train ENDPOINT STORE DATA [ID [ROUNDS [KEY PUB]]] | predict STORE DATA\n",
          argv[0]);
  return 2;
}
