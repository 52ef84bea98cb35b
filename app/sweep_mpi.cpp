#include "app/sweep_mpi.hpp"

#include <cstdlib>
#include <string_view>

#include "sim/errors.hpp"

#ifdef BWSIM_HAVE_MPI
#include <boost/mpi/collectives.hpp>
#include <boost/mpi/communicator.hpp>
#include <boost/mpi/environment.hpp>
#include <boost/serialization/string.hpp>
#include <boost/serialization/utility.hpp>

#include <atomic>
#include <chrono>
#include <deque>
#include <mutex>
#include <thread>

#include "sim/parallel.hpp"
#include "workloads/sweep/results.hpp"
#endif

namespace bwsim::app {

int mpi_launch_size() {
  for (const char* var : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS"}) {
    if (const char* v = std::getenv(var); v != nullptr && *v != '\0') {
      const int n = std::atoi(v);
      if (n > 0) return n;
    }
  }
  return 1;
}

#ifndef BWSIM_HAVE_MPI

bool mpi_available() { return false; }

bool run_sweep_mpi(const SweepSpec&, const std::vector<SweepPoint>&, unsigned,
                   const std::function<std::vector<uint64_t>()>&, const RowSink&) {
  throw InputError("this bwsim was built without Boost.MPI");
}

#else

namespace mpi = boost::mpi;

bool mpi_available() { return true; }

namespace {

enum Tag : int { kResult = 1, kWork = 2, kStart = 3 };
constexpr int64_t kStop = -1;

// Rank 0's point queue, shared by its coordinator (handing points to ranks) and its local
// worker threads.
class Queue {
 public:
  explicit Queue(std::vector<uint64_t> todo) : todo_(todo.begin(), todo.end()) {}
  bool take(uint64_t& i) {
    const std::scoped_lock l(lock_);
    if (todo_.empty()) return false;
    i = todo_.front();
    todo_.pop_front();
    return true;
  }

 private:
  std::mutex lock_;
  std::deque<uint64_t> todo_;
};

}  // namespace

bool run_sweep_mpi(const SweepSpec& spec, const std::vector<SweepPoint>& points, unsigned jobs,
                   const std::function<std::vector<uint64_t>()>& prepare, const RowSink& sink) {
  // Only the main thread calls MPI; rank 0's point threads never do.
  mpi::environment env(mpi::threading::funneled, true);
  mpi::communicator world;
  if (world.rank() != 0) {
    // Wait for rank 0 to read any resumed file; an error there ends every rank.
    std::string start_error;
    mpi::broadcast(world, start_error, 0);
    if (!start_error.empty()) throw InputError(start_error);
    for (;;) {
      world.send(0, kResult, std::make_pair(int64_t{-1}, std::string()));  // a request for work
      int64_t index = kStop;
      world.recv(0, kWork, index);
      if (index == kStop) return false;
      const SweepPoint& p = points.at(static_cast<size_t>(index));
      world.send(0, kResult, std::make_pair(index, sweep_row(p, run_sweep_point(spec, p))));
    }
  }
  std::vector<uint64_t> todo;
  std::string start_error;
  try {
    todo = prepare();
  } catch (const InputError& e) {
    start_error = e.what();
  }
  mpi::broadcast(world, start_error, 0);
  if (!start_error.empty()) throw InputError(start_error);
  Queue queue(todo);
  std::mutex sink_lock;
  const auto deliver = [&](uint64_t i, const std::string& row) {
    const std::scoped_lock l(sink_lock);
    sink(i, row);
  };
  std::vector<std::jthread> local;
  for (unsigned t = 0; t < std::max(1u, jobs); ++t) {
    local.emplace_back([&] {
      const SerialScope serial;
      uint64_t i = 0;
      while (queue.take(i)) deliver(i, sweep_row(points[i], run_sweep_point(spec, points[i])));
    });
  }
  int active = world.size() - 1;
  while (active > 0) {
    if (auto st = world.iprobe(mpi::any_source, kResult)) {
      std::pair<int64_t, std::string> msg;
      world.recv(st->source(), kResult, msg);
      if (msg.first >= 0) {
        deliver(static_cast<uint64_t>(msg.first), msg.second);
        continue;  // a result; the rank's next message asks for more
      }
      uint64_t i = 0;
      if (queue.take(i)) {
        world.send(st->source(), kWork, static_cast<int64_t>(i));
      } else {
        world.send(st->source(), kWork, kStop);
        --active;
      }
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  local.clear();  // joins rank 0's own point threads
  return true;
}

#endif

}  // namespace bwsim::app
