#include "models/scalar_pipes.hpp"

#include <algorithm>

namespace bwsim {

void PipeSpec::read_mufu(ConfigReader& r) {
  r.owned_by("scalar_pipes");
  r.req("exp2_per_clk", mufu_exp2_per_clk, "MUFU exp2 results per clock per SM");
  r.range("exp2_per_clk", mufu_exp2_per_clk, 1u, 4096u);  // 16-32 on today's SMs
}

void PipeSpec::read_fma(ConfigReader& r) {
  r.owned_by("scalar_pipes");
  r.req("fp32_per_clk", fma_fp32_per_clk, "FP32 FMAs per clock per SM");
  r.range("fp32_per_clk", fma_fp32_per_clk, 1u, 16384u);  // 128 on today's SMs
}

Tick ScalarPipes::run(const op::Scalar& s, Tick now) {
  const auto span = [&](uint64_t n, uint32_t per_clk) {
    return clk_->span(Cycles{static_cast<int64_t>((n + per_clk - 1) / per_clk)});
  };
  Tick end = now;
  if (s.exp2 > 0) end = std::max(end, mufu_.reserve(now, span(s.exp2, spec_->mufu_exp2_per_clk)).end);
  // An op of no work still waits for the FMA pipe to drain (as a zero-length FMA op always has).
  if (s.fma > 0 || s.exp2 == 0)
    end = std::max(end, fma_.reserve(now, span(s.fma, spec_->fma_fp32_per_clk)).end);
  counters_->add(counters_->exp2, s.exp2);
  counters_->add(counters_->fma, s.fma);
  return end;
}

}  // namespace bwsim
