// Data-parallel loops over independent items, for the functional models (generating, quantizing
// and multiplying tensors). Each item writes only its own outputs and callers combine results in
// item order, so results do not depend on the thread count. Timing simulation stays single-threaded.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <exception>
#include <thread>
#include <vector>

namespace bwsim {

/// Threads parallel_for uses: BWSIM_THREADS if set (1 = serial), else the hardware's count; 1 on
/// a thread inside a SerialScope.
unsigned worker_threads();

/// While alive, parallel_for on this thread runs serially: for callers that already run
/// independent jobs on every core (a sweep's points), where nested threads would only contend.
class SerialScope {
 public:
  SerialScope();
  ~SerialScope();
  SerialScope(const SerialScope&) = delete;
  SerialScope& operator=(const SerialScope&) = delete;

 private:
  bool was_;
};

/// Calls f(i) for every i in [0, n), in contiguous chunks on up to worker_threads() threads. The
/// first exception thrown by any f is rethrown here after all threads finish.
template <class F>
void parallel_for(int64_t n, F&& f) {
  const int64_t threads = std::min<int64_t>(worker_threads(), n);
  if (threads <= 1) {
    for (int64_t i = 0; i < n; ++i) f(i);
    return;
  }
  std::vector<std::exception_ptr> errors(static_cast<size_t>(threads));
  {
    std::vector<std::jthread> pool;
    pool.reserve(static_cast<size_t>(threads));
    for (int64_t t = 0; t < threads; ++t) {
      pool.emplace_back([&, t] {
        try {
          for (int64_t i = n * t / threads; i < n * (t + 1) / threads; ++i) f(i);
        } catch (...) {
          errors[static_cast<size_t>(t)] = std::current_exception();
        }
      });
    }
  }
  for (const auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

/// Runs f(i) for every i in [0, n) on `jobs` threads (1: on this thread), each taking the next
/// unclaimed item, for independent jobs of uneven cost (sweep or validation points). Each thread
/// runs inside a SerialScope. The first exception stops the claiming of new items and is
/// rethrown here once every thread has finished its current item.
template <class F>
void run_jobs(size_t n, unsigned jobs, F&& f) {
  std::atomic<size_t> next{0};
  std::vector<std::exception_ptr> errors(std::max(1u, jobs));
  const auto work = [&](size_t t) {
    try {
      for (size_t i = next++; i < n; i = next++) f(i);
    } catch (...) {
      errors[t] = std::current_exception();
      next = n;
    }
  };
  if (jobs <= 1) {
    work(0);
  } else {
    std::vector<std::jthread> pool;
    for (unsigned t = 0; t < jobs && t < n; ++t) {
      pool.emplace_back([&work, t] {
        const SerialScope serial;
        work(t);
      });
    }
  }
  for (const auto& e : errors) {
    if (e) std::rethrow_exception(e);
  }
}

}  // namespace bwsim
