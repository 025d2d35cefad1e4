#include "client/client_host.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <optional>
#include <random>
#include <unordered_map>

#include <zmq.hpp>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "base/log.h"
#include "base/status_macros.h"
#include "base/wake_fd.h"
#include "client/client_session.h"
#include "client/coordinator_link.h"
#include "protocol/wire.h"

namespace fedge::client {
namespace {

// Above this many sessions the timers run at most this often: scanning
// 10,000 sessions at every frame would cost more than the frames.
constexpr size_t kManySessions = 64;
constexpr absl::Duration kTimerQuantum = absl::Milliseconds(10);

}  // namespace

class ClientHost::Impl final : public SessionIo {
 public:
  Impl(ClientHostOptions options, TrainerFactory trainer_factory,
       std::vector<LogicalClientSpec> specs, Clock* clock, ClientHostStats* stats)
      : options_(std::move(options)), clock_(clock), stats_(stats), context_(&options_, stats),
        shared_(options_.multiplex) {
    if (absl::StatusOr<WakeFd> wake = WakeFd::Create("client host"); wake.ok()) {
      wake_.emplace(*std::move(wake));
    } else {
      wake_error_ = wake.status();
    }
    SizeContextForClients(ctx_, shared_ ? 1 : specs.size());
    std::vector<TrainingWorker::ClientData> data;
    sessions_.reserve(specs.size());
    for (size_t i = 0; i < specs.size(); ++i) {
      LogicalClientSpec& s = specs[i];
      ClientSession::Spec spec;
      spec.client_id = s.client_id;
      spec.num_examples = s.num_examples;
      spec.evaluates = static_cast<bool>(s.eval_data);
      spec.profile = s.profile;
      sessions_.emplace_back(i, spec, &context_, this);
      channels_.push_back(absl::StrCat(s.client_id));
      index_of_[s.client_id] = i;
      if (!shared_) links_.push_back(MakeLink(s.client_id, std::string()));
      data.push_back({std::move(s.data), s.num_examples, std::move(s.decorate),
                      std::move(s.eval_data), s.eval_examples, s.local_state, s.client_id});
    }
    if (shared_ && !specs.empty()) {
      // Unique per process: a routing id already connected is refused.
      std::random_device entropy;
      links_.push_back(MakeLink(specs[0].client_id,
                                absl::StrCat("host-", specs[0].client_id, "-",
                                             absl::Hex(entropy(), absl::kZeroPad8))));
    }
    worker_ = std::make_unique<TrainingWorker>(std::move(trainer_factory), std::move(data),
                                               [this] { Wake(); }, clock_,
                                               options_.train_threads);
  }

  absl::Status Run() {
    FEDGE_RETURN_IF_ERROR(wake_error_);
    worker_->Start();
    absl::Status result = Serve();
    worker_->Stop();
    // Whatever ended the run, a client says it is leaving, and a
    // last update or Leave gets a bounded time to go out (sockets linger 0).
    const absl::Duration linger = std::clamp(options_.heartbeat_interval,
                                             absl::Milliseconds(100), absl::Seconds(2));
    const std::string reason = result.ok() ? "done" : std::string(result.message());
    for (ClientSession& s : sessions_) {
      if (LinkOf(s.index()).open()) s.Leave(reason);
    }
    for (std::unique_ptr<CoordinatorLink>& link : links_) link->Close(linger);
    return result;
  }

  void Stop() {
    stop_.store(true);
    Wake();
  }

  // ---- SessionIo ------------------------------------------------------------

  void Send(size_t session, std::string frame) override {
    CoordinatorLink& link = LinkOf(session);
    const size_t size = frame.size();
    const bool sent = shared_ ? link.SendOn(channels_[session], std::move(frame))
                              : link.Send(std::move(frame));
    if (sent) stats_->bytes_sent += size;
  }

  absl::Status Reconnect(size_t session) override {
    // A shared connection is reopened by the runner (WatchSharedLink).
    if (shared_) return absl::OkStatus();
    return links_[session]->Open();
  }

  std::string HandshakeError(size_t session) const override {
    return links_[shared_ ? 0 : session]->handshake_error();
  }

  // On a shared connection the tasks of a round share the model the
  // connection carried (ResolveModel): queued, they hold one copy in all.
  void Submit(size_t session, protocol::Task task,
              std::shared_ptr<const protocol::ModelPayload> model) override {
    if (model != nullptr) {
      worker_->Submit(session, std::move(task), std::move(model));
      return;
    }
    worker_->Submit(session, std::move(task));
  }
  void Abandon(size_t session) override { worker_->Abandon(session); }
  std::vector<std::string> CachedArchitectures() const override {
    return worker_->CachedArchitectures();
  }

 private:
  std::unique_ptr<CoordinatorLink> MakeLink(uint64_t client_id, std::string routing_id) {
    CoordinatorLink::Options link;
    link.endpoint = options_.coordinator_endpoint;
    link.max_frame_bytes = options_.limits.max_frame_bytes;
    link.reconnect_interval = options_.backoff_initial;
    link.reconnect_interval_max = options_.backoff_max;
    link.curve = options_.curve;
    link.routing_id = std::move(routing_id);
    return std::make_unique<CoordinatorLink>(&ctx_, std::move(link), client_id);
  }

  CoordinatorLink& LinkOf(size_t session) { return *links_[shared_ ? 0 : session]; }

  absl::Status Serve() {
    const absl::Time start = clock_->Now();
    if (shared_ && !links_.empty()) FEDGE_RETURN_IF_ERROR(links_[0]->Open());
    link_heard_ = start;
    link_backoff_ = options_.backoff_initial;
    for (ClientSession& s : sessions_) FEDGE_RETURN_IF_ERROR(s.Connect(start));
    next_timer_ = start;
    // [wake, link sockets..., their handshake monitors...]
    const size_t n = links_.size();
    std::vector<zmq::pollitem_t> items(2 * n + 1);
    while (true) {
      if (stop_.load()) return absl::CancelledError("client host stopped");
      if (AllDone() || TasksDone()) return absl::OkStatus();

      absl::Time now = clock_->Now();
      if (now >= next_timer_) FEDGE_RETURN_IF_ERROR(RunTimers(now));
      absl::Time next = std::min(next_timer_, now + absl::Seconds(1));
      if (tasks_ended_at_.has_value()) {
        next = std::min(next, *tasks_ended_at_ + options_.heartbeat_interval);
      }

      items[0] = {nullptr, wake_->fd(), ZMQ_POLLIN, 0};
      for (size_t i = 0; i < n; ++i) {
        items[i + 1] = {links_[i]->socket().handle(), 0, ZMQ_POLLIN, 0};
        items[n + i + 1] = {links_[i]->handshake_events().handle(), 0, ZMQ_POLLIN, 0};
      }
      FEDGE_RETURN_IF_ERROR(
          protocol::Poll(items.data(), items.size(), std::max(next - now, absl::ZeroDuration()))
              .status());
      if (items[0].revents & ZMQ_POLLIN) {
        wake_->Drain();
        FEDGE_RETURN_IF_ERROR(worker_->fatal());
      }
      for (size_t i = 0; i < n; ++i) {
        if (items[i + 1].revents & ZMQ_POLLIN) ReceiveAll(i);
        if (items[n + i + 1].revents & ZMQ_POLLIN) {
          const int failed = links_[i]->ReadHandshakeEvents(clock_->Now());
          stats_->handshake_failures += failed;
          if (failed > 0) handshake_failed_ = true;
        }
      }
      if (!context_.fatal().ok()) return context_.fatal();
      now = clock_->Now();
      for (TrainingResult& r : worker_->TakeResults()) {
        ClientSession& s = sessions_[r.client];
        s.OnResult(std::move(r), now);
        Reschedule(s, now);
      }
    }
  }

  bool AllDone() const {
    for (const ClientSession& s : sessions_) {
      if (!s.done()) return false;
    }
    return true;
  }

  // Check-in mode: is this check-in over?
  bool TasksDone() {
    if (options_.stop_after_tasks == 0) return false;
    for (const ClientSession& s : sessions_) {
      if (s.busy()) return false;
    }
    // Nothing runs: the coordinator said when to come back.
    if (stats_->retry_later.has_value()) return true;
    const ClientHostStats& st = *stats_;
    if (st.updates_sent + st.training_failures + st.tasks_refused < options_.stop_after_tasks) {
      tasks_ended_at_.reset();
      return false;
    }
    // The tasks ended; the coordinator's RetryLater is due shortly.
    const absl::Time now = clock_->Now();
    if (!tasks_ended_at_.has_value()) tasks_ended_at_ = now;
    return now - *tasks_ended_at_ >= options_.heartbeat_interval;
  }

  absl::Status RunTimers(absl::Time now) {
    if (shared_) FEDGE_RETURN_IF_ERROR(WatchSharedLink(now));
    absl::Time next = absl::InfiniteFuture();
    for (ClientSession& s : sessions_) {
      FEDGE_RETURN_IF_ERROR(s.OnTimer(now));
      next = std::min(next, s.NextDeadline());
    }
    if (shared_) next = std::min(next, link_heard_ + options_.coordinator_timeout);
    if (sessions_.size() > kManySessions) next = std::max(next, now + kTimerQuantum);
    next_timer_ = next;
    return absl::OkStatus();
  }

  // An event may have moved a session's deadline earlier.
  void Reschedule(const ClientSession& s, absl::Time now) {
    absl::Time at = s.NextDeadline();
    if (sessions_.size() > kManySessions) at = std::max(at, now + kTimerQuantum);
    next_timer_ = std::min(next_timer_, at);
  }

  // The shared connection is reopened when its handshake failed (ZeroMQ does
  // not retry that) or the coordinator has said nothing on it for
  // coordinator_timeout; every session then registers again on the new one.
  absl::Status WatchSharedLink(absl::Time now) {
    if (AllDone() || now < link_reopen_at_) return absl::OkStatus();
    const bool silent = now - link_heard_ > options_.coordinator_timeout;
    if (!handshake_failed_ && !silent) return absl::OkStatus();
    ++stats_->reconnects;
    FEDGE_LOG(kWarning, "%s; reopening the shared connection (backoff %s)",
              handshake_failed_ ? links_[0]->handshake_error() : "coordinator silent",
              absl::FormatDuration(link_backoff_));
    FEDGE_RETURN_IF_ERROR(links_[0]->Open());
    handshake_failed_ = false;
    link_heard_ = now;
    link_reopen_at_ = now + context_.Jittered(link_backoff_);
    link_backoff_ = std::min(options_.backoff_max, link_backoff_ * 2);
    for (ClientSession& s : sessions_) s.Register(now);
    return absl::OkStatus();
  }

  // ---- Incoming frames --------------------------------------------------------

  void ReceiveAll(size_t link) {
    for (int i = 0; i < 4096; ++i) {
      std::optional<size_t> session;
      zmq::message_t frame;
      if (shared_) {
        auto in = protocol::ReceiveOnChannel(links_[0]->socket());
        if (!in.ok() || !in->has_value()) return;
        stats_->bytes_received += (*in)->frame.size();
        session = SessionOfChannel(**in);
        if (!session.has_value()) continue;
        frame = std::move((*in)->frame);
      } else {
        auto in = protocol::ReceiveFrame(links_[link]->socket());
        if (!in.ok() || !in->has_value()) return;
        stats_->bytes_received += (*in)->size();
        session = link;
        frame = **std::move(in);
      }
      const absl::Time now = clock_->Now();
      link_heard_ = now;
      link_backoff_ = options_.backoff_initial;
      ClientSession& s = sessions_[*session];
      absl::StatusOr<protocol::Message> msg =
          protocol::Decode(protocol::View(frame), options_.limits);
      if (!msg.ok()) {
        ++stats_->bad_frames;
        FEDGE_LOG(kWarning, "client %d: refused a frame from the coordinator: %s", s.id(),
                  msg.status().ToString());
        continue;
      }
      auto* task = std::get_if<protocol::Task>(&*msg);
      std::shared_ptr<const protocol::ModelPayload> model;
      if (task != nullptr && !ResolveModel(*task, &model)) {
        ++stats_->tasks_unresolved;
        FEDGE_LOG(kWarning, "client %d: round %d: the task names model version %d by reference, "
                  "which this connection has not carried; refused", s.id(), task->round,
                  task->model_version);
        protocol::ErrorReply refusal;
        refusal.code = protocol::ErrorCode::kInternal;
        refusal.round = task->round;
        refusal.message = "task model by reference: no such model received on this connection";
        Send(*session, protocol::Encode(refusal));
        continue;
      }
      if (model != nullptr) {
        s.OnTask(*task, std::move(model), now);
      } else {
        s.OnMessage(*msg, now);
      }
      Reschedule(s, now);
    }
  }

  // On a shared connection a task's model is shared with the other tasks of
  // its version, never copied per task: a task carrying its model gives it
  // up to become the connection's model (*model), and a task by reference
  // gets the model the connection last carried for its version. Elsewhere
  // *model stays null and the task keeps its own. False: a task by
  // reference with nothing to fill it in with.
  bool ResolveModel(protocol::Task& task, std::shared_ptr<const protocol::ModelPayload>* model) {
    if (!task.model_by_reference) {
      if (shared_) {
        last_model_version_ = task.model_version;
        last_model_ = std::make_shared<const protocol::ModelPayload>(std::move(task.model));
        task.model = protocol::ModelPayload();
        *model = last_model_;
      }
      return true;
    }
    if (!shared_ || !last_model_version_.has_value() ||
        *last_model_version_ != task.model_version) {
      return false;
    }
    *model = last_model_;
    task.model_by_reference = false;
    ++stats_->tasks_by_reference;
    return true;
  }

  std::optional<size_t> SessionOfChannel(const protocol::ChannelFrame& in) {
    uint64_t id = 0;
    auto it = in.well_formed && absl::SimpleAtoi(in.channel, &id) ? index_of_.find(id)
                                                                   : index_of_.end();
    if (it == index_of_.end()) {
      ++stats_->bad_frames;
      FEDGE_LOG(kWarning, "refused a frame from the coordinator for channel '%s', which is "
                "no logical client of this process", absl::CHexEscape(in.channel));
      return std::nullopt;
    }
    return it->second;
  }

  // Called from the training thread (and Stop). A failed wake is not fatal:
  // the I/O loop still takes the result at its next timer (at most a second
  // away).
  void Wake() {
    if (!wake_.has_value() || wake_->Signal()) return;
    if (wake_failures_.fetch_add(1) == 0) {
      FEDGE_LOG(kWarning, "cannot wake the I/O thread (%s); results wait for its next timer",
                std::strerror(errno));
    }
  }

  ClientHostOptions options_;
  Clock* clock_;
  ClientHostStats* stats_;
  SessionContext context_;
  const bool shared_;  // one connection, a channel per session
  // The training thread's wake-up of the I/O loop; made with the host, so
  // Stop() from another thread never races its creation.
  std::optional<WakeFd> wake_;
  absl::Status wake_error_;
  zmq::context_t ctx_;
  std::vector<ClientSession> sessions_;
  std::vector<std::string> channels_;  // per session: its client id in decimal
  std::unordered_map<uint64_t, size_t> index_of_;  // client id -> session
  // One per session, or the shared one.
  std::vector<std::unique_ptr<CoordinatorLink>> links_;
  std::unique_ptr<TrainingWorker> worker_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> wake_failures_{0};
  absl::Time next_timer_;
  // The shared connection: last frame heard, and when it may be reopened.
  absl::Time link_heard_;
  absl::Time link_reopen_at_ = absl::InfinitePast();
  absl::Duration link_backoff_;
  bool handshake_failed_ = false;
  // The model the shared connection last carried (ResolveModel).
  std::optional<uint64_t> last_model_version_;
  std::shared_ptr<const protocol::ModelPayload> last_model_;
  // Check-in mode: when the tasks ended (awaiting the coordinator's RetryLater).
  std::optional<absl::Time> tasks_ended_at_;
};

ClientHost::ClientHost(ClientHostOptions options, TrainerFactory trainer_factory,
                       std::vector<LogicalClientSpec> clients, Clock* clock)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(trainer_factory),
                                   std::move(clients), clock, &stats_)) {}

ClientHost::~ClientHost() = default;

absl::Status ClientHost::Run() { return impl_->Run(); }
void ClientHost::Stop() { impl_->Stop(); }

absl::Status CheckTrainThreadsFlag(int threads) {
  if (threads >= 1 && threads <= 256) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("--train_threads=", threads, ": want 1 to 256"));
}

}  // namespace fedge::client
