#include "workloads/sweep/runner.hpp"

#include <mutex>

#include "sim/parallel.hpp"

namespace bwsim {

void run_sweep_points(const SweepSpec& spec, const std::vector<SweepPoint>& todo, unsigned jobs,
                      const SweepDone& done) {
  std::mutex lock;
  bool failed = false;  // under `lock`: no callback after one has thrown
  run_jobs(todo.size(), jobs, [&](size_t i) {
    const PointResult r = run_sweep_point(spec, todo[i]);  // never throws
    const std::scoped_lock l(lock);
    if (failed) return;
    try {
      done(todo[i], r);  // may throw (the results file): stops the sweep
    } catch (...) {
      failed = true;
      throw;
    }
  });
}

}  // namespace bwsim
