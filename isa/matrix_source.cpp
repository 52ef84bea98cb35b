#include "isa/matrix_source.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <memory>

#include "sim/parallel.hpp"

namespace bwsim {

MatrixSource MatrixSource::generated(Distribution d, int64_t rows, int64_t cols, uint64_t seed) {
  MatrixSource s;
  s.rows_ = rows;
  s.cols_ = cols;
  s.dist_ = d;
  s.seed_ = seed;
  s.description_ = fmt::format("gen:{}:{}x{}:seed={}", distribution_name(d), rows, cols, seed);
  return s;
}

MatrixSource MatrixSource::held(Tensor t, std::string description) {
  MatrixSource s;
  s.rows_ = t.rows();
  s.cols_ = t.cols();
  s.description_ = std::move(description);
  s.held_ = std::make_shared<const Tensor>(std::move(t));
  return s;
}

void MatrixSource::row(int64_t r, std::span<float> out) const {
  if (held_) {
    const float* p = held_->data.data() + r * cols_;
    std::copy(p, p + cols_, out.begin());
    return;
  }
  generate_row(*dist_, r, cols_, seed_, out.data());
}

Tensor MatrixSource::gather(std::span<const int64_t> rows) const {
  Tensor t = Tensor::matrix(static_cast<int64_t>(rows.size()), cols_);
  parallel_for(static_cast<int64_t>(rows.size()), [&](int64_t i) {
    row(rows[static_cast<size_t>(i)],
        std::span(t.data).subspan(static_cast<size_t>(i * cols_), static_cast<size_t>(cols_)));
  });
  return t;
}

float MatrixSource::amax(const std::function<void(std::span<float>)>& transform) const {
  // Per-chunk maxima combined in chunk order: max is exact, so any split gives the same answer.
  constexpr int64_t kChunk = 64;
  const int64_t chunks = (rows_ + kChunk - 1) / kChunk;
  std::vector<float> part(static_cast<size_t>(chunks), 0.0f);
  parallel_for(chunks, [&](int64_t c) {
    std::vector<float> buf(static_cast<size_t>(cols_));
    float m = 0;
    for (int64_t r = c * kChunk; r < std::min(rows_, (c + 1) * kChunk); ++r) {
      row(r, buf);
      if (transform) transform(buf);
      for (float v : buf) {
        const float a = std::fabs(v);
        m = a > m ? a : m;  // NaN-ignoring, as the quantizers' amax
      }
    }
    part[static_cast<size_t>(c)] = m;
  });
  float m = 0;
  for (float v : part) m = std::max(m, v);
  return m;
}

float MatrixSource::amax() const {
  std::call_once(cache_->once, [&] { cache_->amax = amax({}); });
  return cache_->amax;
}

}  // namespace bwsim
