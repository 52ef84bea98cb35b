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
  // Physical ranges: 100-256 KiB per SM today, 128 B per clock, ~30 cycles.
  r.range("capacity", capacity, ByteSize{1024}, ByteSize{uint64_t{16} << 20});
  r.range("max_per_cta", max_per_cta, ByteSize{0}, ByteSize{uint64_t{16} << 20});
  r.range("bandwidth", bandwidth, BytesPerCycle{1}, BytesPerCycle{65536});
  r.range("latency", latency, Cycles{0}, Cycles{10000});
  r.check(max_per_cta <= capacity, "max_per_cta", "must not exceed smem.capacity");
}

}  // namespace bwsim
