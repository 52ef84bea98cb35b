#include "models/gpu.hpp"

#include "models/executor.hpp"

namespace bwsim {

Gpu::Gpu(Simulation& s, HwSpec spec, ClockMode mode)
    : sim(s),
      hw(std::move(spec)),
      sm_clock("sm", mode == ClockMode::kBoost ? hw.clock.sm : hw.clock.run),
      l2_clock("l2", hw.clock.l2),
      amap(hw.l2.block.bytes, hw.l2.block_width.bytes, hw.l2.sector.bytes),
      mem_path_(make_memory_path(s, hw, l2_clock, amap)),
      mem(*mem_path_),
      counters(s.stats()) {
  for (uint32_t i = 0; i < hw.sm.count; ++i) sms.emplace_back(i, hw, sm_clock, mem, counters);
  exec_ = std::make_unique<Executor>(*this);
}

Gpu::~Gpu() = default;

KernelResult Gpu::run(const Kernel& k) { return exec_->run(k); }
void Gpu::start(const Kernel& k) { exec_->start(k); }
bool Gpu::run_until(const std::function<bool(const std::vector<std::pair<uint32_t, Tick>>&)>& enough,
                    Tick window) {
  return exec_->run_until(enough, window);
}
KernelResult Gpu::finish() { return exec_->finish(); }
BusyTime Gpu::busy_now() const { return exec_->busy_now(); }

void Gpu::set_trace(GpuTrace* t) {
  trace_ = t;
  mem.set_trace(t);
  for (Sm& sm : sms) sm.set_trace(t);
}

}  // namespace bwsim
