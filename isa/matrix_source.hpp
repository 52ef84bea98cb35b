// A matrix whose rows are produced on demand: seeded and generated (row r is a pure function of
// (seed, r), so any subset of rows can be made without the rest) or held in memory after loading
// from a file. Functional models read only the rows they need, plus whole-matrix statistics
// (the amax behind per-tensor scales) that a streaming pass computes once.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "isa/tensor.hpp"
#include "isa/tensor_gen.hpp"

namespace bwsim {

class MatrixSource {
 public:
  static MatrixSource generated(Distribution d, int64_t rows, int64_t cols, uint64_t seed);
  /// `t` as a matrix (leading dimensions folded into rows).
  static MatrixSource held(Tensor t, std::string description);

  [[nodiscard]] int64_t rows() const { return rows_; }
  [[nodiscard]] int64_t cols() const { return cols_; }
  [[nodiscard]] const std::string& description() const { return description_; }
  /// Writes row r (cols() values) to `out`.
  void row(int64_t r, std::span<float> out) const;
  /// The listed rows, in order, as a matrix.
  [[nodiscard]] Tensor gather(std::span<const int64_t> rows) const;
  /// max |x| over the whole matrix; computed once (streaming, in parallel) and cached.
  [[nodiscard]] float amax() const;
  /// max |f(row)| over the whole matrix, for a row transform f applied in place (e.g. the RHT).
  [[nodiscard]] float amax(const std::function<void(std::span<float>)>& transform) const;

 private:
  MatrixSource() = default;
  int64_t rows_ = 0, cols_ = 0;
  std::string description_;
  std::optional<Distribution> dist_;
  uint64_t seed_ = 0;
  std::shared_ptr<const Tensor> held_;
  struct Cache {
    std::once_flag once;
    float amax = 0;
  };
  std::shared_ptr<Cache> cache_ = std::make_shared<Cache>();
};

}  // namespace bwsim
