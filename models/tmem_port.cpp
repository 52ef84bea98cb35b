#include "models/tmem_port.hpp"

#include <algorithm>
#include <bit>

#include <fmt/format.h>

namespace bwsim {

void TmemSpec::read(ConfigReader& r) {
  present = true;
  r.owned_by("occupancy");  // the allocator: what fits
  r.req("columns", columns, "32-bit TMEM columns per lane");
  r.owned_by("tmem_port");
  r.req("bandwidth", bandwidth, "tcgen05.ld/st bandwidth between TMEM and registers per SM");
  auto pow2 = [](uint32_t v) { return v != 0 && (v & (v - 1)) == 0; };
  r.check(pow2(columns), "columns", "must be a power of two");
  r.check(columns >= kTmemAllocMinColumns, "columns",
          fmt::format("must be at least {}", kTmemAllocMinColumns));
  r.range("columns", columns, kTmemAllocMinColumns, 65536u);
  r.range("bandwidth", bandwidth, BytesPerCycle{1}, BytesPerCycle{65536});
}

TmemAllocator::TmemAllocator(uint32_t columns, uint32_t min_columns)
    : columns_(columns), unit_(min_columns == 0 ? 1 : min_columns), used_(columns / unit_, false) {}

uint32_t TmemAllocator::rounded(uint32_t columns) const { return std::bit_ceil(std::max(columns, unit_)); }

std::optional<uint32_t> TmemAllocator::allocate(uint32_t columns) {
  if (columns == 0) return 0u;
  const uint32_t size = rounded(columns);
  if (size > columns_) return std::nullopt;
  const uint32_t units = size / unit_;
  // Buddy placement: a chunk of `size` columns starts at a multiple of `size`.
  for (uint32_t start = 0; start + units <= used_.size(); start += units) {
    bool free = true;
    for (uint32_t u = start; u < start + units && free; ++u) free = !used_[u];
    if (free) {
      for (uint32_t u = start; u < start + units; ++u) used_[u] = true;
      return start * unit_;
    }
  }
  return std::nullopt;
}

void TmemAllocator::release(uint32_t offset, uint32_t columns) {
  if (columns == 0) return;
  const uint32_t units = rounded(columns) / unit_;
  for (uint32_t u = offset / unit_; u < offset / unit_ + units; ++u) used_[u] = false;
}

uint32_t TmemAllocator::free_columns() const {
  uint32_t n = 0;
  for (bool u : used_) n += u ? 0 : unit_;
  return n;
}

}  // namespace bwsim
