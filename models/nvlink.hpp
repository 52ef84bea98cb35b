// The link between GPUs of a tensor-parallel group: NVLink, or PCIe peer-to-peer on parts without
// NVLink (RTX 50, RTX PRO). The model steps' all-reduces are its only user: a ring all-reduce,
// as NCCL runs one.
#pragma once

#include "sim/config.hpp"
#include "sim/units.hpp"

namespace bwsim {

struct NvlinkSpec {
  bool present = false;
  Bandwidth bandwidth;  // total, both directions, as datasheets quote
  Duration latency;
  /// Reads the [nvlink] section, or with `pcie` the [pcie] one (same keys).
  void read(ConfigReader& r, bool pcie = false);
};

/// A ring all-reduce of `bytes` over `gpus` GPUs: 2 (n - 1) / n of the data each way at half
/// the quoted (both-directions) bandwidth, and 2 (n - 1) hops of latency.
double ring_all_reduce_seconds(const NvlinkSpec& link, double bytes, double gpus);

}  // namespace bwsim
