#include "models/address_map.hpp"

#include <algorithm>
#include <bit>
#include <stdexcept>

#include "sim/rng.hpp"

namespace bwsim {

namespace {
int8_t log2_if_pow2(uint64_t v) {
  return std::has_single_bit(v) ? static_cast<int8_t>(std::countr_zero(v)) : int8_t{-1};
}
}  // namespace

AddressMap::AddressMap(uint64_t block_bytes, uint64_t block_width, uint64_t sector_bytes)
    : block_(block_bytes),
      width_max_(block_width),
      sector_(sector_bytes),
      sector_shift_(log2_if_pow2(sector_bytes)) {}

uint32_t AddressMap::allocate(std::string name, uint64_t rows, uint64_t row_bytes, uint64_t access_width) {
  if (rows == 0 || row_bytes == 0) throw std::invalid_argument("empty tensor " + name);
  if (tensors_.size() >= 0xFFFF) throw std::length_error("more than 65535 tensors");
  TensorLayout t;
  t.id = static_cast<uint32_t>(tensors_.size());
  t.name = std::move(name);
  t.rows = rows;
  t.row_bytes = row_bytes;
  t.stride = (row_bytes + 15) / 16 * 16;  // TMA needs 16-byte aligned row strides
  t.base = next_;
  // Block shape: as wide as the row allows (up to width_max_), then as many rows as fit.
  const uint64_t row_sectors = (row_bytes + sector_ - 1) / sector_ * sector_;
  uint64_t width = std::min(row_sectors, width_max_);
  if (access_width > 0) {
    // Blocks as wide as one access: narrower than block_width for narrow boxes, and wider
    // (up to the whole block) for long contiguous pieces such as a GEMM stage's scale factors,
    // which would otherwise touch block / block_width blocks for a few hundred bytes each.
    const uint64_t access = std::max(sector_, (access_width + sector_ - 1) / sector_ * sector_);
    width = std::min({row_sectors, access, block_});
  }
  uint64_t block_rows = std::max<uint64_t>(1, block_ / width);
  if (rows < block_rows) {  // few rows: widen the block instead, up to the block size
    block_rows = rows;
    width = std::min(row_sectors, block_ / rows / sector_ * sector_);
    width = std::max(width, sector_);
  }
  t.block_rows = static_cast<uint32_t>(block_rows);
  t.block_width = static_cast<uint32_t>(width);
  t.rows_shift = log2_if_pow2(block_rows);
  t.width_shift = log2_if_pow2(width);
  if ((rows + block_rows - 1) / block_rows >= (uint64_t{1} << 28) ||
      (row_bytes + width - 1) / width >= (uint64_t{1} << 20)) {
    throw std::length_error("tensor " + t.name + " is too large to track");
  }
  t.block_cols = (row_bytes + width - 1) / width;
  t.all_rows = rows_pattern(0, block_rows, width / sector_);
  t.first_block = next_block_;
  // A multiple of 2^40 blocks (4 EiB of 4 KiB blocks), far beyond any tensor a run can track, so
  // two tensors' hash indices do not meet.
  t.interleave_base = (mix64(t.id + 0x5EEDull) >> 40) << 40;
  next_block_ += (rows + block_rows - 1) / block_rows * t.block_cols;
  next_ = (next_ + t.bytes() + 0xFFFF) / 0x10000 * 0x10000;
  tensors_.push_back(std::move(t));
  return tensors_.back().id;
}

uint64_t AddressMap::interleave_index(uint64_t ordinal) const {
  // The tensor holding the ordinal: the last whose first block is at or before it.
  const auto it = std::upper_bound(tensors_.begin(), tensors_.end(), ordinal,
                                   [](uint64_t o, const TensorLayout& t) { return o < t.first_block; });
  if (it == tensors_.begin()) return ordinal;
  const TensorLayout& t = *std::prev(it);
  return t.interleave_base + (ordinal - t.first_block);
}

}  // namespace bwsim
