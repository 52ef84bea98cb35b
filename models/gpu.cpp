#include "models/gpu.hpp"

#include "models/executor.hpp"

namespace bwsim {

int mma_operand_bits(MmaKind kind) {
  switch (kind) {
    case MmaKind::kF16:
      return 16;
    case MmaKind::kTf32:
      return 32;
    case MmaKind::kMxF4:
    case MmaKind::kMxF4NvF4:
      return 4;
    default:
      return 8;  // FP8/FP6/FP4 in 8-bit slots (f8f6f4, mxf8f6f4), INT8
  }
}

Gpu::Gpu(Simulation& s, HwSpec spec, ClockMode mode)
    : sim(s),
      hw(std::move(spec)),
      sm_clock("sm", mode == ClockMode::kBoost ? hw.clock.sm : hw.clock.sm_sustained),
      l2_clock("l2", hw.clock.l2),
      amap(hw.l2.block.bytes, hw.l2.block_width.bytes, hw.l2.sector.bytes),
      mem(s, hw, l2_clock, amap) {
  for (uint32_t i = 0; i < hw.sm.count; ++i) sms.emplace_back(i, hw);
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

void Gpu::set_trace(GpuTrace* t) {
  trace_ = t;
  mem.set_trace(t);
}

}  // namespace bwsim
