// Tensors in a simulated physical address space, and the blocks the L2 tracks them in.
//
// Every tensor is a 2D array of rows x row_bytes at a real base address. The L2 tracks data in
// blocks of `block` bytes shaped to the tensor: up to `block_width` bytes of up to
// block / width rows (16 rows x 256 B by default), so a TMA box of 128 rows x 128 B touches 8
// blocks rather than 128 lines. A block's physical base address decides its L2 partition,
// slice, set and DRAM channel through the hashes in MemorySystem. Within a block, 32-byte
// sectors say which bytes are present.
#pragma once

#include <algorithm>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "isa/region.hpp"
#include "sim/wide_int.hpp"

namespace bwsim {

struct TensorLayout {
  uint32_t id = 0;
  std::string name;
  uint64_t base = 0;
  uint64_t rows = 0;
  uint64_t row_bytes = 0;
  uint64_t stride = 0;      // bytes from one row to the next
  uint32_t block_rows = 0;  // tracking block geometry for this tensor
  uint32_t block_width = 0;
  uint64_t block_cols = 0;   // blocks across a row
  uint64_t first_block = 0;  // ordinal of block (0, 0) in the whole address space
  /// Where the address hashes start on this tensor (AddressMap::interleave_index): drawn from the
  /// tensor's allocation index alone, so a tensor is spread the same way whatever the sizes of
  /// the tensors allocated before it.
  uint64_t interleave_base = 0;
  int8_t rows_shift = -1;   // log2(block_rows) when a power of two (-1: divide), likewise:
  int8_t width_shift = -1;  // log2(block_width)
  u128 all_rows = 0;        // a bit at the first sector of each of a block's rows
  [[nodiscard]] uint64_t bytes() const { return rows * stride; }
};

/// One block of a region: its identity, address, and the sectors the region covers in it.
struct BlockAccess {
  uint64_t key;      // unique per (tensor, block row, block column)
  uint64_t addr;     // physical base address of the block
  uint64_t ordinal;  // position of the block in address order over all tensors (for interleaving)
  u128 sectors;      // bit i: sector i of the block is touched
};

class AddressMap {
 public:
  AddressMap(uint64_t block_bytes, uint64_t block_width, uint64_t sector_bytes);

  /// Places a rows x row_bytes tensor; returns its id. Bases are 64 KiB aligned. With
  /// `access_width`, the bytes of a row the workload reads at once (a TMA box's inner
  /// extent), blocks are that wide (at most the block size; the block_width default does not
  /// apply), so that a box fills whole blocks instead of touching twice as many half-used ones,
  /// and a long contiguous piece is one block rather than one per block_width bytes.
  uint32_t allocate(std::string name, uint64_t rows, uint64_t row_bytes, uint64_t access_width = 0);
  [[nodiscard]] const TensorLayout& tensor(uint32_t id) const { return tensors_[id]; }
  [[nodiscard]] size_t tensor_count() const { return tensors_.size(); }
  [[nodiscard]] uint64_t allocated_bytes() const { return next_; }
  [[nodiscard]] uint64_t sector_bytes() const { return sector_; }

  /// The index the L2 and DRAM address hashes take for the block with this ordinal: the block's
  /// position in its tensor after the tensor's interleave_base. Consecutive blocks of a tensor
  /// stay consecutive (spread evenly over partitions, slices and channels), and a tensor's
  /// spread does not move when an earlier tensor grows, as one in its own allocation would not:
  /// a larger batch or sequence never re-deals a later tensor's blocks.
  [[nodiscard]] uint64_t interleave_index(uint64_t ordinal) const;

  /// Calls f(BlockAccess) for each block `r` touches, row-major over blocks. Throws
  /// std::out_of_range if the region leaves the tensor.
  template <class F>
  void for_each_block(const Region& r, F&& f) const;

 private:
  /// Bit r * sectors_per_row set for rows r in [ra, rb).
  static u128 rows_pattern(uint64_t ra, uint64_t rb, uint64_t sectors_per_row) {
    u128 p = 1;  // rows [0, have), doubled: log2(rows) steps
    for (uint64_t have = 1, want = rb - ra; have < want;) {
      const uint64_t add = std::min(have, want - have);
      const u128 part = add * sectors_per_row >= 128 ? p : p & ((u128{1} << (add * sectors_per_row)) - 1);
      p |= part << (have * sectors_per_row);
      have += add;
    }
    return p << (ra * sectors_per_row);
  }
  /// x / d, as a shift when d is a power of two (`shift` >= 0): block geometry divides on
  /// every block of every request, and a 64-bit division costs tens of cycles.
  static uint64_t div(uint64_t x, uint64_t d, int shift) { return shift >= 0 ? x >> shift : x / d; }
  uint64_t block_;
  uint64_t width_max_;
  uint64_t sector_;
  int sector_shift_ = -1;
  uint64_t next_ = 0;
  uint64_t next_block_ = 0;
  std::vector<TensorLayout> tensors_;
};

template <class F>
void AddressMap::for_each_block(const Region& r, F&& f) const {
  const TensorLayout& t = tensors_.at(r.tensor);
  if (r.rows == 0 || r.bytes == 0) return;
  if (r.row0 + r.rows > t.rows || r.byte0 + r.bytes > t.row_bytes)
    throw std::out_of_range("region outside tensor " + t.name);
  const uint64_t br = t.block_rows;
  const uint64_t bw = t.block_width;
  const uint64_t sectors_per_row = div(bw, sector_, sector_shift_);
  const uint64_t bj0 = div(r.byte0, bw, t.width_shift);
  const uint64_t bj1 = div(r.byte0 + r.bytes - 1, bw, t.width_shift);
  const uint64_t bi1 = div(r.row0 + r.rows - 1, br, t.rows_shift);
  for (uint64_t bi = div(r.row0, br, t.rows_shift); bi <= bi1; ++bi) {
    const uint64_t ra = std::max(r.row0, bi * br) - bi * br;
    const uint64_t rb = std::min(r.row0 + r.rows, (bi + 1) * br) - bi * br;
    // One bit at the first sector of each touched row: a block's mask is this times the
    // sectors one row touches (the rows' patterns never overlap, so the product is a sum).
    const u128 row_starts = ra == 0 && rb == br ? t.all_rows : rows_pattern(ra, rb, sectors_per_row);
    for (uint64_t bj = bj0; bj <= bj1; ++bj) {
      const uint64_t ca = div(std::max(r.byte0, bj * bw) - bj * bw, sector_, sector_shift_);
      const uint64_t cb =
          div(std::min(r.byte0 + r.bytes, (bj + 1) * bw) - bj * bw + sector_ - 1, sector_, sector_shift_);
      const u128 row_mask = (cb - ca >= 128 ? ~u128{0} : ((u128{1} << (cb - ca)) - 1)) << ca;
      const u128 mask = row_starts * row_mask;
      f(BlockAccess{(uint64_t{t.id} << 48) | (bi << 20) | bj, t.base + bi * br * t.stride + bj * bw,
                    t.first_block + bi * t.block_cols + bj, mask});
    }
  }
}

}  // namespace bwsim
