#include "workloads/sweep/runner.hpp"

#include <atomic>
#include <exception>
#include <mutex>
#include <thread>

#include "sim/parallel.hpp"

namespace bwsim {

void run_sweep_points(const SweepSpec& spec, const std::vector<SweepPoint>& todo, unsigned jobs,
                      const SweepDone& done) {
  std::atomic<size_t> next{0};
  std::mutex lock;
  std::exception_ptr failure;  // from the callback (e.g. the results file); points never throw
  const auto work = [&] {
    for (size_t i = next++; i < todo.size(); i = next++) {
      const PointResult r = run_sweep_point(spec, todo[i]);
      const std::scoped_lock l(lock);
      if (failure) return;
      try {
        done(todo[i], r);
      } catch (...) {
        failure = std::current_exception();
        next = todo.size();
      }
    }
  };
  if (jobs <= 1) {
    work();
  } else {
    std::vector<std::jthread> pool;
    for (unsigned t = 0; t < jobs && t < todo.size(); ++t) {
      pool.emplace_back([&] {
        const SerialScope serial;
        work();
      });
    }
  }
  if (failure) std::rethrow_exception(failure);
}

}  // namespace bwsim
