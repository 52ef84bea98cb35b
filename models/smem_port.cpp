#include "models/smem_port.hpp"

namespace bwsim {

void SmemSpec::read(ConfigReader& r) {
  r.owned_by("occupancy");  // what fits; the port itself only moves bytes
  r.req("capacity", capacity, "shared memory per SM (the SMEM part of the unified L1/SMEM)");
  r.req("max_per_cta", max_per_cta, "largest dynamic shared memory one CTA may use");
  r.owned_by("smem_port");
  r.req("bandwidth", bandwidth, "shared-memory bandwidth per SM, reads and writes together (banked SRAM)");
  r.opt("latency", latency, Cycles{30},
        "shared-memory access latency: ld.shared waits for it, and an MMA reading SMEM operands adds it to "
        "tensor.latency_*");
  r.check(capacity.bytes > 0, "capacity", "must be positive");
  r.check(max_per_cta <= capacity, "max_per_cta", "must not exceed smem.capacity");
  r.check(bandwidth.value > 0, "bandwidth", "must be positive");
}

}  // namespace bwsim
