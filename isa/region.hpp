// A rectangle of a tensor in bytes: what a TMA box, a load or a store touches.
#pragma once

#include <cstdint>
#include <stdexcept>

namespace bwsim {

/// Rows and bytes per row are 32-bit (a box, a load or a tile row is far smaller), which keeps
/// a Region at 32 bytes and a program Op at one 64-byte cache line: kernels are lists of
/// millions of ops, walked in order.
struct Region {
  Region() = default;
  Region(uint32_t tensor_id, uint64_t first_row, uint64_t row_count, uint64_t first_byte, uint64_t byte_count)
      : tensor(tensor_id),
        rows(narrow(row_count)),
        row0(first_row),
        byte0(first_byte),
        bytes(narrow(byte_count)) {}

  uint32_t tensor = 0;
  uint32_t rows = 0;
  uint64_t row0 = 0;
  uint64_t byte0 = 0;
  uint32_t bytes = 0;
  [[nodiscard]] uint64_t size() const { return uint64_t{rows} * bytes; }

 private:
  static uint32_t narrow(uint64_t v) {
    if (v > UINT32_MAX) throw std::length_error("a region of more than 2^32 rows or bytes per row");
    return static_cast<uint32_t>(v);
  }
};

}  // namespace bwsim
