// NVLink between GPUs of a tensor-parallel group. The model steps' all-reduces are its only
// user: a ring all-reduce, as NCCL runs one on NVLink.
#pragma once

#include "sim/config.hpp"
#include "sim/units.hpp"

namespace bwsim {

struct NvlinkSpec {
  bool present = false;
  Bandwidth bandwidth;  // total, both directions, as datasheets quote
  Duration latency;
  void read(ConfigReader& r);
};

/// A ring all-reduce of `bytes` over `gpus` GPUs: 2 (n - 1) / n of the data each way at half
/// the quoted (both-directions) bandwidth, and 2 (n - 1) hops of latency.
double ring_all_reduce_seconds(const NvlinkSpec& link, double bytes, double gpus);

}  // namespace bwsim
