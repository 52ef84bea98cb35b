#include "workloads/serving/engine.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <deque>
#include <limits>
#include <memory>
#include <queue>
#include <stdexcept>
#include <utility>

#include "sim/errors.hpp"

namespace bwsim::serving {

int64_t Batch::tokens() const {
  int64_t n = 0;
  for (const SeqWork& s : seqs) n += s.q_len;
  return n;
}

int64_t Batch::decodes() const {
  int64_t n = 0;
  for (const SeqWork& s : seqs) n += s.q_len == 1 || s.verify ? 1 : 0;
  return n;
}

namespace {

constexpr uint64_t kPrefixStream = 0x7072656603ull;
constexpr uint64_t kMtpStream = 0x6d74707665ull;
constexpr size_t kTimelineCap = 8192;

struct Seq {
  size_t rec = 0;  // index into the records
  int64_t prompt = 0;
  int64_t output = 0;
  int64_t computed = 0;  // tokens whose KV is in the cache (the shared prefix included)
  int64_t emitted = 0;   // tokens delivered
  int64_t blocks = 0;    // blocks it owns
  int64_t cached = 0;    // prompt tokens served by the shared prefix
  int64_t passes = 0;    // MTP verify passes so far (the acceptance draws' index)
  double last_token_s = 0;
  [[nodiscard]] int64_t known() const { return prompt + emitted; }
};

class Engine {
 public:
  Engine(const TrafficConfig& tr, const SchedulerConfig& sc, const StepCost& cost,
         const std::function<void()>& on_finish)
      : tr_(tr), sc_(sc), cost_(cost), on_finish_(on_finish) {
    const auto bad = [](const std::string& m) { throw InputError("scheduler: " + m); };
    if (sc_.num_blocks <= 0) bad(fmt::format("num_blocks {} must be > 0 (no KV cache fits)", sc_.num_blocks));
    if (sc_.block_size <= 0) bad(fmt::format("block_size {} must be > 0", sc_.block_size));
    if (sc_.max_num_batched_tokens <= 0) bad("max_num_batched_tokens must be > 0");
    if (sc_.max_num_seqs <= 0) bad("max_num_seqs must be > 0");
    if (!(sc_.prefix_hit_rate >= 0 && sc_.prefix_hit_rate <= 1)) bad("prefix_hit_rate must lie in [0, 1]");
    if (sc_.preemption == Preemption::kSwap && !(sc_.swap_bytes_per_s > 0))
      bad("swap preemption needs a host link bandwidth > 0");
    if (sc_.mtp_drafts < 0 || std::ssize(sc_.mtp_alpha) != sc_.mtp_drafts)
      bad(fmt::format("MTP needs one acceptance per draft ({} drafts, {} values)", sc_.mtp_drafts,
                      sc_.mtp_alpha.size()));
    for (double a : sc_.mtp_alpha)
      if (!(a >= 0 && a <= 1)) bad("MTP acceptance must lie in [0, 1]");
    if (sc_.prefix_hit_rate > 0) prefix_blocks_ = sc_.shared_prefix / sc_.block_size;
    if (prefix_blocks_ >= sc_.num_blocks) bad("the shared prefix takes every KV block");
    if (sc_.replicas < 1) bad("replicas must be >= 1");
    if (sc_.prefill_replicas < 0) bad("prefill_replicas must be >= 0");
    if (sc_.prefill_replicas > 0 && !(sc_.kv_transfer_bytes_per_s > 0))
      bad("disaggregated prefill needs a KV transfer bandwidth > 0");
    if (!(sc_.kv_transfer_latency_s >= 0)) bad("the KV transfer latency must be >= 0");
  }

  ServeResult run() {
    seed_arrivals();
    // Disaggregated: the decode replicas first (0 .. replicas - 1), then the prefill ones.
    reps_.assign(static_cast<size_t>(sc_.replicas + sc_.prefill_replicas), Replica{});
    for (size_t i = 0; i < reps_.size(); ++i) {
      reps_[i].used = prefix_blocks_;
      reps_[i].prefill_only = std::cmp_greater_equal(i, sc_.replicas);
    }
    double end = 0;
    for (;;) {
      // The next event: an arrival, a KV transfer landing, or the step of the busy replica that
      // is due first (an arrival at the same time goes first, as a replica admits what has
      // arrived by its step).
      Replica* next = nullptr;
      for (Replica& r : reps_) {
        if (r.busy() && (next == nullptr || r.t < next->t)) next = &r;
      }
      const double next_t = next == nullptr ? std::numeric_limits<double>::infinity() : next->t;
      const double arrival_t =
          arrivals_.empty() ? std::numeric_limits<double>::infinity() : arrivals_.top().first;
      const double handoff_t =
          handoffs_.empty() ? std::numeric_limits<double>::infinity() : handoffs_.top().at;
      if (handoff_t <= arrival_t && handoff_t <= next_t && !handoffs_.empty()) {
        const Handoff h = handoffs_.top();
        handoffs_.pop();
        cur_ = &reps_[h.from];
        release(*h.seq);  // the prefill replica's copy, sent
        Replica& d = route_decode();
        res_.requests[h.seq->rec].decode_replica = &d - reps_.data();
        if (!d.busy()) d.t = std::max(d.t, h.at);
        d.waiting.push_back(h.seq);
        end = std::max(end, h.at);
        continue;
      }
      if (!arrivals_.empty() && arrival_t <= next_t) {
        const auto [at, rec] = arrivals_.top();
        arrivals_.pop();
        Replica& r = route();
        res_.requests[rec].replica = &r - reps_.data();
        if (!r.busy()) r.t = std::max(r.t, at);
        cur_ = &r;
        r.waiting.push_back(start(rec));
        continue;
      }
      if (next == nullptr) break;
      cur_ = next;
      step(*next);
      end = std::max(end, next->t);
    }
    res_.end_s = end;
    return std::move(res_);
  }

 private:
  using Arrival = std::pair<double, size_t>;  // (time, record index)
  // A request's KV landing on the decode pool (in time order, then in the order sent).
  struct Handoff {
    double at = 0;
    size_t from = 0;  // the prefill replica
    Seq* seq = nullptr;
    uint64_t order = 0;
    bool operator>(const Handoff& o) const { return at != o.at ? at > o.at : order > o.order; }
  };

  // One data-parallel replica (a TP group with a KV cache of its own): its queues, its blocks in
  // use and the time its current step ends.
  struct Replica {
    std::deque<Seq*> waiting;
    std::deque<Seq*> swapped;
    std::vector<Seq*> running;
    int64_t used = 0;
    double t = 0;
    bool prefill_only = false;  // disaggregated: a prefill replica
    double link_free = 0;       // a prefill replica: when its KV link is next free
    [[nodiscard]] bool busy() const { return !running.empty() || !waiting.empty() || !swapped.empty(); }
    [[nodiscard]] size_t load() const { return running.size() + waiting.size() + swapped.size(); }
  };

  // The replica an arrival goes to: among the prefill replicas when disaggregated.
  Replica& route() {
    const int64_t first = sc_.prefill_replicas > 0 ? sc_.replicas : 0;
    const int64_t n = std::ssize(reps_) - first;
    if (sc_.router == Router::kRoundRobin) return reps_[static_cast<size_t>(first + routed_++ % n)];
    return least_loaded(first, first + n);
  }

  // The decode replica a prefilled request goes to: the least loaded.
  Replica& route_decode() { return least_loaded(0, sc_.replicas); }

  // Fewest requests held, the first of equals, among replicas [from, to).
  Replica& least_loaded(int64_t from, int64_t to) {
    Replica* best = &reps_[static_cast<size_t>(from)];
    for (int64_t i = from; i < to; ++i) {
      Replica& r = reps_[static_cast<size_t>(i)];
      if (r.load() < best->load()) best = &r;
    }
    return *best;
  }

  // Disaggregated: a prefill replica sends a request's KV (its computed tokens, per GPU) to the
  // decode pool once its prefill ends, one transfer at a time on its link.
  void send_kv(Replica& from, Seq& s, double t) {
    const double bytes = static_cast<double>(s.computed - s.cached) * sc_.kv_bytes_per_token;
    const double begin = std::max(t, from.link_free);
    from.link_free = begin + bytes / sc_.kv_transfer_bytes_per_s;
    handoffs_.push(Handoff{from.link_free + sc_.kv_transfer_latency_s,
                           static_cast<size_t>(&from - reps_.data()), &s, handoff_seq_++});
  }

  // One step of replica `r`, from its time on.
  void step(Replica& r) {
    Batch b;
    std::vector<Seq*> who;
    schedule(b, who);
    if (b.seqs.empty()) throw std::logic_error("serve: a step with nothing to run");
    for (const Seq* s : who) {
      double& admitted = res_.requests[s->rec].admitted_s;
      if (admitted < 0) admitted = r.t;
    }
    const double dt = cost_(b) + b.extra_s;
    if (!(dt > 0) || !std::isfinite(dt)) throw std::logic_error(fmt::format("serve: a step of {} s", dt));
    ++res_.steps;
    record(r.t);
    r.t += dt;
    res_.busy_s += dt;
    for (size_t i = 0; i < who.size(); ++i) advance(*who[i], b.seqs[i], r.t);
    std::erase_if(r.running, [&](Seq* s) {
      if (s->emitted >= s->output) {
        finish(*s, r.t);
        return true;
      }
      if (r.prefill_only && s->emitted > 0) {  // prefilled: on to the decode pool
        send_kv(r, *s, r.t);
        return true;
      }
      return false;
    });
  }

  // A request joins the records and the queue of future arrivals.
  void add_arrival(const Request& r) {
    RequestRecord rec;
    rec.id = r.id;
    rec.arrival_s = r.arrival_s;
    rec.prompt = r.prompt;
    rec.output = r.output;
    res_.requests.push_back(rec);
    arrivals_.emplace(r.arrival_s, res_.requests.size() - 1);
  }

  void seed_arrivals() {
    switch (tr_.arrivals.kind) {
      case Arrivals::Kind::kTrace:
        for (const Request& r : tr_.trace) add_arrival(r);
        break;
      case Arrivals::Kind::kClosed: {
        if (tr_.arrivals.users <= 0) throw InputError("traffic: a closed loop needs users > 0");
        const int64_t n = std::min(tr_.arrivals.users, tr_.requests);
        for (int64_t i = 0; i < n; ++i) add_arrival(closed_request(i, tr_.prompt, tr_.output, tr_.seed));
        issued_ = n;
        break;
      }
      default:
        for (const Request& r :
             generate_open(tr_.arrivals, tr_.prompt, tr_.output, tr_.requests, tr_.duration_s, tr_.seed))
          add_arrival(r);
    }
  }

  [[nodiscard]] int64_t blocks_for(int64_t tokens) const {
    return (tokens + sc_.block_size - 1) / sc_.block_size;
  }
  [[nodiscard]] int64_t free_blocks() const { return sc_.num_blocks - cur_->used; }

  Seq* start(size_t rec) {
    RequestRecord& r = res_.requests[rec];
    const int64_t need = blocks_for(r.prompt + r.output - 1);
    if (need > sc_.num_blocks - prefix_blocks_) {
      throw InputError(fmt::format(
          "request {}: a prompt of {} and an answer of {} tokens need {} KV blocks of {} tokens; the cache "
          "holds {}{}",
          r.id, r.prompt, r.output, need, sc_.block_size, sc_.num_blocks - prefix_blocks_,
          prefix_blocks_ > 0 ? " beside the shared prefix" : ""));
    }
    auto s = std::make_unique<Seq>();
    s->rec = rec;
    s->prompt = r.prompt;
    s->output = r.output;
    if (prefix_blocks_ > 0) {
      const double u =
          static_cast<double>(random_at(tr_.seed ^ kPrefixStream, static_cast<uint64_t>(r.id)) >> 11) *
          0x1.0p-53;
      if (u < sc_.prefix_hit_rate) {
        // Whole shared blocks only, and at least one prompt token left to compute (its logits).
        s->cached = std::min(prefix_blocks_, (r.prompt - 1) / sc_.block_size) * sc_.block_size;
        s->computed = s->cached;
        r.prefix_hit = s->cached > 0;
      }
    }
    seqs_.push_back(std::move(s));
    return seqs_.back().get();
  }

  // Blocks a sequence owns for `tokens` in its cache (the shared prefix is not its own).
  [[nodiscard]] int64_t owned_for(const Seq& s, int64_t tokens) const {
    return blocks_for(tokens) - s.cached / sc_.block_size;
  }

  // Seconds to copy a sequence's own KV blocks over the host link, one way.
  [[nodiscard]] double swap_s(const Seq& s) const {
    return static_cast<double>(s.computed - s.cached) * sc_.kv_bytes_per_token / sc_.swap_bytes_per_s;
  }

  void release(Seq& s) {
    cur_->used -= s.blocks;
    s.blocks = 0;
  }

  // Makes room by preempting the lowest-priority running request (the last admitted).
  void preempt_last(Batch& b) {
    Seq* v = cur_->running.back();
    cur_->running.pop_back();
    ++res_.preemptions;
    ++res_.requests[v->rec].preemptions;
    if (sc_.preemption == Preemption::kSwap) {
      b.extra_s += swap_s(*v);
      release(*v);
      cur_->swapped.push_back(v);
    } else {
      release(*v);
      v->computed = v->cached;
      cur_->waiting.push_front(v);
    }
  }

  // Schedules `q` tokens of `s` if its blocks can be had, preempting later requests for them.
  // False if `s` itself had to go.
  bool grow_running(Seq& s, int64_t q, Batch& b) {
    const int64_t need = std::max<int64_t>(0, owned_for(s, s.computed + q) - s.blocks);  // none if reserved
    while (need > free_blocks()) {
      const bool self = cur_->running.back() == &s;
      preempt_last(b);
      preempted_ = true;
      if (self) return false;
    }
    cur_->used += need;
    s.blocks += need;
    return true;
  }

  // Blocks for `q` more tokens (and at least `reserve_tokens` in all), or false if they are not
  // free. With full reservation, a request holds its whole prompt and answer from admission on.
  bool admit(Seq& s, int64_t q, int64_t reserve_tokens) {
    if (sc_.admission == Admission::kReserveAll) reserve_tokens = s.prompt + s.output - 1;
    const int64_t need = owned_for(s, std::max(s.computed + q, reserve_tokens)) - s.blocks;
    if (need > free_blocks()) return false;
    cur_->used += need;
    s.blocks += need;
    return true;
  }

  void schedule(Batch& b, std::vector<Seq*>& who) {
    preempted_ = false;
    const auto take = [&](Seq* s, int64_t q) {
      b.seqs.push_back(SeqWork{q, s->computed + q, q > 1 && decoding(*s)});
      who.push_back(s);
    };
    switch (sc_.policy) {
      case Policy::kContinuous:
      case Policy::kSarathi: {
        int64_t budget = sc_.max_num_batched_tokens;
        const bool chunk = sc_.chunked_prefill;
        for (size_t i = 0; i < cur_->running.size() && budget > 0;) {
          Seq* s = cur_->running[i];
          const int64_t q = std::min(work(*s), budget);
          // A verify pass is not split, nor (unchunked) a prompt that fits a step.
          if ((decoding(*s) || (!chunk && work(*s) <= sc_.max_num_batched_tokens)) && q < work(*s)) break;
          if (!grow_running(*s, q, b)) break;
          take(s, q);
          budget -= q;
          ++i;
        }
        if (preempted_) return;  // as vLLM: no admissions in a step that had to preempt
        while (!cur_->swapped.empty() && std::ssize(cur_->running) < sc_.max_num_seqs && budget > 0) {
          Seq* s = cur_->swapped.front();
          const int64_t q = std::min(s->known() - s->computed, budget);
          if (!chunk && q < s->known() - s->computed) return;
          if (!admit(*s, q, 0)) return;
          b.extra_s += swap_s(*s);
          cur_->swapped.pop_front();
          cur_->running.push_back(s);
          take(s, q);
          budget -= q;
        }
        if (!cur_->swapped.empty()) return;  // swapped requests go before new ones
        while (!cur_->waiting.empty() && std::ssize(cur_->running) < sc_.max_num_seqs && budget > 0) {
          Seq* s = cur_->waiting.front();
          const int64_t whole = s->known() - s->computed;
          if (!chunk && whole > sc_.max_num_batched_tokens && s->emitted == 0)
            throw InputError(fmt::format(
                "scheduler: request {} needs a prefill of {} tokens, beyond max_num_batched_tokens {} "
                "(chunked_prefill = false: prompts are not chunked)",
                res_.requests[s->rec].id, whole, sc_.max_num_batched_tokens));
          // Unchunked, a prompt waits for a step with room for all of it (a preempted request's
          // re-prefill longer than any step is chunked: it has to go on somehow).
          if (!chunk && whole > budget && whole <= sc_.max_num_batched_tokens) break;
          const int64_t q = std::min(whole, budget);
          if (!admit(*s, q, 0)) break;
          cur_->waiting.pop_front();
          cur_->running.push_back(s);
          take(s, q);
          budget -= q;
        }
        return;
      }
      case Policy::kPrefillFirst: {
        int64_t budget = sc_.max_num_batched_tokens;
        while (!cur_->swapped.empty() && std::ssize(cur_->running) < sc_.max_num_seqs) {
          Seq* s = cur_->swapped.front();
          if (!admit(*s, 0, s->computed + 1)) break;
          b.extra_s += swap_s(*s);
          cur_->swapped.pop_front();
          cur_->running.push_back(s);
        }
        while (cur_->swapped.empty() && !cur_->waiting.empty() &&
               std::ssize(cur_->running) < sc_.max_num_seqs) {
          Seq* s = cur_->waiting.front();
          const int64_t q = s->known() - s->computed;
          if (q > sc_.max_num_batched_tokens)
            throw InputError(fmt::format(
                "scheduler: request {} needs a prefill of {} tokens, beyond max_num_batched_tokens {} (the "
                "prefill-first policy does not chunk prompts)",
                res_.requests[s->rec].id, q, sc_.max_num_batched_tokens));
          if (q > budget || !admit(*s, q, 0)) break;
          cur_->waiting.pop_front();
          cur_->running.push_back(s);
          take(s, q);
          budget -= q;
        }
        if (!b.seqs.empty()) return;
        for (size_t i = 0; i < cur_->running.size();) {
          Seq* s = cur_->running[i];
          if (!grow_running(*s, work(*s), b)) break;
          take(s, work(*s));
          ++i;
        }
        return;
      }
      case Policy::kStatic: {
        if (cur_->running.empty()) {
          // A batch reserves each request's whole answer: nothing is ever preempted.
          while (!cur_->waiting.empty() && std::ssize(cur_->running) < sc_.max_num_seqs) {
            Seq* s = cur_->waiting.front();
            if (!admit(*s, 0, s->prompt + s->output - 1)) break;
            cur_->waiting.pop_front();
            cur_->running.push_back(s);
          }
        }
        bool prefill = false;
        for (const Seq* s : cur_->running)
          prefill = prefill || s->known() - s->computed > 1 || s->emitted == 0;
        int64_t budget = sc_.max_num_batched_tokens;
        for (Seq* s : cur_->running) {
          const int64_t left = s->known() - s->computed;
          if (prefill && (left <= 1 && s->emitted > 0)) continue;
          const int64_t q = std::min(work(*s), budget);
          if (q <= 0 || (decoding(*s) && q < work(*s))) break;
          take(s, q);
          budget -= q;
        }
        return;
      }
    }
  }

  // A request decodes when all it knows is in the cache but its last token.
  [[nodiscard]] static bool decoding(const Seq& s) { return s.emitted > 0 && s.known() - s.computed == 1; }

  // Tokens the request's next step processes: what it knows and the cache lacks, and while it
  // decodes with MTP its drafts (none past the answer's end).
  [[nodiscard]] int64_t work(const Seq& s) const {
    const int64_t left = s.known() - s.computed;
    if (sc_.mtp_drafts == 0 || !decoding(s)) return left;
    return 1 + std::min<int64_t>(sc_.mtp_drafts, s.output - s.emitted - 1);
  }

  // (Drafts never reach past the answer's end, so a request's cache never holds more than its
  // prompt and answer but the last token: what admission reserves and start() checks.)

  // Drafts a verify pass of `drafts` keeps: up to the first rejected one.
  int64_t accepted(Seq& s, int64_t drafts) {
    const uint64_t stream = random_at(tr_.seed ^ kMtpStream, static_cast<uint64_t>(res_.requests[s.rec].id));
    const auto pass = static_cast<uint64_t>(s.passes++);
    int64_t a = 0;
    while (a < drafts) {
      const double u =
          static_cast<double>(random_at(stream, pass * 64 + static_cast<uint64_t>(a)) >> 11) * 0x1.0p-53;
      if (!(u < sc_.mtp_alpha[static_cast<size_t>(a)])) break;
      ++a;
    }
    return a;
  }

  void advance(Seq& s, const SeqWork& w, double t) {
    RequestRecord& r = res_.requests[s.rec];
    int64_t tokens = 1;
    if (w.verify) {
      const int64_t drafts = w.q_len - 1;
      const int64_t a = accepted(s, drafts);
      ++res_.verify_passes;
      res_.drafts_verified += drafts;
      res_.drafts_accepted += a;
      s.computed += 1 + a;  // the last token and the accepted drafts stay in the cache
      tokens += a;
    } else {
      s.computed += w.q_len;
      if (s.computed < s.known()) return;
    }
    s.emitted += tokens;
    r.emitted = s.emitted;
    if (s.emitted == tokens) {
      r.first_token_s = t;
      res_.prefill_tokens += s.prompt;
    } else {
      res_.itl_s.push_back(static_cast<float>(t - s.last_token_s));
      res_.decode_tokens += tokens;
    }
    s.last_token_s = t;
  }

  void finish(Seq& s, double t) {
    RequestRecord& r = res_.requests[s.rec];
    r.finish_s = t;
    release(s);
    if (on_finish_) on_finish_();
    if (tr_.arrivals.kind == Arrivals::Kind::kClosed && issued_ < tr_.requests) {
      const double at = t + tr_.arrivals.think_s;
      if (tr_.duration_s <= 0 || at <= tr_.duration_s) {
        Request n = closed_request(issued_++, tr_.prompt, tr_.output, tr_.seed);
        n.arrival_s = at;
        add_arrival(n);
      }
    }
  }

  // The state as a step starts (its blocks allocated), all replicas together: steps start in
  // time order, so the timeline does too.
  void record(double t) {
    res_.peak_blocks = std::max(res_.peak_blocks, cur_->used);
    if (cur_->used > sc_.num_blocks) throw std::logic_error("serve: more KV blocks in use than exist");
    if (res_.steps % stride_ != 0) return;
    TimelinePoint p{t, 0, 0, 0, res_.preemptions};
    for (const Replica& r : reps_) {
      p.used_blocks += r.used;
      p.running += static_cast<int64_t>(r.running.size());
      p.waiting += static_cast<int64_t>(r.waiting.size() + r.swapped.size());
    }
    res_.timeline.push_back(p);
    if (res_.timeline.size() >= kTimelineCap) {
      std::vector<TimelinePoint> half;
      half.reserve(kTimelineCap / 2);
      for (size_t i = 0; i < res_.timeline.size(); i += 2) half.push_back(res_.timeline[i]);
      res_.timeline = std::move(half);
      stride_ *= 2;
    }
  }

  const TrafficConfig& tr_;
  const SchedulerConfig& sc_;
  const StepCost& cost_;
  const std::function<void()>& on_finish_;
  ServeResult res_;
  std::priority_queue<Arrival, std::vector<Arrival>, std::greater<>> arrivals_;
  std::priority_queue<Handoff, std::vector<Handoff>, std::greater<>> handoffs_;
  uint64_t handoff_seq_ = 0;
  std::vector<std::unique_ptr<Seq>> seqs_;
  std::vector<Replica> reps_;
  Replica* cur_ = nullptr;  // the replica being scheduled
  int64_t routed_ = 0;      // round robin: arrivals routed so far
  int64_t prefix_blocks_ = 0;
  int64_t issued_ = 0;
  int64_t stride_ = 1;
  bool preempted_ = false;
};

}  // namespace

ServeResult serve(const TrafficConfig& traffic, const SchedulerConfig& sched, const StepCost& cost,
                  const std::function<void()>& on_finish) {
  return Engine(traffic, sched, cost, on_finish).run();
}

Percentiles percentiles(std::vector<double> v) {
  Percentiles p;
  if (v.empty()) return p;
  std::sort(v.begin(), v.end());
  double sum = 0;
  for (double x : v) sum += x;
  p.mean = sum / static_cast<double>(v.size());
  const auto at = [&](double q) {
    const double pos = q / 100.0 * static_cast<double>(v.size() - 1);
    const auto lo = static_cast<size_t>(std::floor(pos));
    const size_t hi = std::min(lo + 1, v.size() - 1);
    return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
  };
  p.p50 = at(50);
  p.p90 = at(90);
  p.p99 = at(99);
  p.max = v.back();
  return p;
}

ServeSummary summarize(const ServeResult& r, double slo_ttft_s, double slo_tpot_s) {
  ServeSummary s;
  std::vector<double> ttft, tpot, e2e;
  int64_t out_tokens = 0;
  int64_t in_tokens = 0;
  int64_t good = 0;
  double first_arrival = r.requests.empty() ? 0 : r.requests.front().arrival_s;
  for (const RequestRecord& q : r.requests) {
    first_arrival = std::min(first_arrival, q.arrival_s);
    if (q.finish_s < 0) continue;
    ++s.finished;
    ttft.push_back(q.ttft());
    if (q.output > 1) tpot.push_back(q.tpot());
    e2e.push_back(q.e2e());
    out_tokens += q.output;
    in_tokens += q.prompt;
    const bool ok =
        (slo_ttft_s <= 0 || q.ttft() <= slo_ttft_s) && (slo_tpot_s <= 0 || q.tpot() <= slo_tpot_s);
    good += ok ? 1 : 0;
  }
  s.ttft_s = percentiles(std::move(ttft));
  s.tpot_s = percentiles(std::move(tpot));
  s.e2e_s = percentiles(std::move(e2e));
  s.itl_s = percentiles(std::vector<double>(r.itl_s.begin(), r.itl_s.end()));
  const double span = r.end_s - first_arrival;
  if (span > 0) {
    s.output_tokens_per_s = static_cast<double>(out_tokens) / span;
    s.total_tokens_per_s = static_cast<double>(out_tokens + in_tokens) / span;
    s.requests_per_s = static_cast<double>(s.finished) / span;
    s.goodput_requests_per_s = static_cast<double>(good) / span;
  }
  s.slo_attainment = s.finished > 0 ? static_cast<double>(good) / static_cast<double>(s.finished) : 0;
  return s;
}

}  // namespace bwsim::serving
