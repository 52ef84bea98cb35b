#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "isa/error_metrics.hpp"
#include "isa/packing.hpp"
#include "isa/tensor_io.hpp"
#include "tests/test_util.hpp"

namespace bwsim {
namespace {

namespace fs = std::filesystem;

TEST(Packing, Fp4FirstElementInLowNibble) {
  const std::vector<uint8_t> codes{0x1, 0x2, 0xF, 0x7, 0x9};
  const auto packed = pack_fp4(codes);
  EXPECT_EQ(packed, (std::vector<uint8_t>{0x21, 0x7F, 0x09}));
  EXPECT_EQ(unpack_fp4(packed, codes.size()), codes);
}

TEST(Packing, Fp6FourCodesInThreeBytes) {
  const std::vector<uint8_t> codes{0x3F, 0x00, 0x15, 0x2A};
  const auto packed = pack_fp6(codes);
  // bits: 111111 | 000000 | 101010 (0x15 LSB first) | 010101 ... little-endian stream
  ASSERT_EQ(packed.size(), 3u);
  EXPECT_EQ(packed[0], 0x3F);                             // e0 = 0x3F in bits 0-5, e1 low bits 6-7 = 0
  EXPECT_EQ(packed[1], static_cast<uint8_t>(0x15 << 4));  // e1 high 4 bits 0, e2 low 4 bits
  EXPECT_EQ(packed[2], static_cast<uint8_t>((0x15 >> 4) | (0x2A << 2)));
  EXPECT_EQ(unpack_fp6(packed, 4), codes);
  std::vector<uint8_t> many(1001);
  for (size_t i = 0; i < many.size(); ++i) many[i] = static_cast<uint8_t>((i * 37) & 0x3F);
  EXPECT_EQ(unpack_fp6(pack_fp6(many), many.size()), many);
}

TEST(Packing, SwizzledScaleOffsetsMatchTheWorkedExamples) {
  // NUMERICS.md, C = 8 scale columns.
  EXPECT_EQ(swizzled_scale_offset(33, 2, 8), 22u);
  EXPECT_EQ(swizzled_scale_offset(127, 3, 8), 511u);
  EXPECT_EQ(swizzled_scale_offset(0, 4, 8), 512u);
  EXPECT_EQ(swizzled_scale_offset(128, 0, 8), 1024u);
  EXPECT_EQ(swizzled_scale_offset(200, 5, 8), 1673u);
  // Padding: 130 rows x 5 scale columns occupy 256 x 8 bytes, each offset used once.
  EXPECT_EQ(swizzled_scale_bytes(130, 5), 2048u);
  std::vector<uint8_t> plain(130 * 5);
  for (size_t i = 0; i < plain.size(); ++i) plain[i] = static_cast<uint8_t>(i % 251 + 1);
  const auto sw = swizzle_scales(plain, 130, 5);
  EXPECT_EQ(unswizzle_scales(sw, 130, 5), plain);
  EXPECT_EQ(std::count(sw.begin(), sw.end(), 0), static_cast<long>(sw.size() - plain.size()));
}

TEST(ErrorMetrics, HandComputedCase) {
  const std::vector<float> ref{3, 4};
  const std::vector<float> approx{3, 5};
  const ErrorMetrics m = compare(approx, ref);
  EXPECT_DOUBLE_EQ(m.rel_frobenius, 1.0 / 5.0);
  EXPECT_DOUBLE_EQ(m.max_abs, 1.0);
  EXPECT_DOUBLE_EQ(m.sqnr_db, 10 * std::log10(25.0));
  EXPECT_DOUBLE_EQ(m.cosine, 29.0 / (5.0 * std::sqrt(34.0)));
  EXPECT_EQ(m.count, 2u);
  const ErrorMetrics exact = compare(ref, ref);
  EXPECT_TRUE(std::isinf(exact.sqnr_db));
  EXPECT_EQ(exact.rel_frobenius, 0.0);
  EXPECT_DOUBLE_EQ(exact.cosine, 1.0);
}

class TensorIo : public ::testing::Test {
 protected:
  void SetUp() override {
    // One directory per test: ctest runs these in parallel, and a shared one let one test's
    // TearDown delete the files another was writing.
    dir_ = test_temp_dir("bwsim_tensor_io_");
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path dir_;
  void write_bytes(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }
  static std::string safetensors(const std::string& header, const std::string& data) {
    std::string out(8, '\0');
    uint64_t n = header.size();
    std::memcpy(out.data(), &n, 8);
    return out + header + data;
  }
};

TEST_F(TensorIo, NpyRoundTripsFloat32AndUint8) {
  const std::vector<int64_t> shape{2, 3};
  const std::vector<float> v{1, -2.5f, 3, 0.125f, 1e-30f, 448};
  write_npy_f32(dir_ / "a.npy", shape, v);
  LoadedTensor t = read_npy(dir_ / "a.npy");
  EXPECT_EQ(t.tensor.shape, shape);
  EXPECT_EQ(t.tensor.data, v);
  EXPECT_EQ(t.dtype, StoredDtype::kFloat32);
  const std::vector<uint8_t> u{0, 1, 255};
  const std::vector<int64_t> s1{3};
  write_npy_u8(dir_ / "u.npy", s1, u);
  LoadedTensor tu = read_npy(dir_ / "u.npy");
  EXPECT_EQ(tu.tensor.shape, s1);
  EXPECT_EQ(tu.tensor.data, (std::vector<float>{0, 1, 255}));
  // The header is padded so the data starts on a 64-byte boundary (NEP 1).
  EXPECT_EQ((fs::file_size(dir_ / "a.npy") - 24u) % 64, 0u);
}

TEST_F(TensorIo, NpyRoundTripsFloat16) {
  const std::vector<float> v{1.0f, -0.5f, 65504.0f, 1e-7f, 70000.0f};
  const std::vector<int64_t> s{5};
  write_npy_f16(dir_ / "h.npy", s, v);
  LoadedTensor t = read_npy(dir_ / "h.npy");
  EXPECT_EQ(t.dtype, StoredDtype::kFloat16);
  EXPECT_EQ(t.tensor.data[0], 1.0f);
  EXPECT_EQ(t.tensor.data[1], -0.5f);
  EXPECT_EQ(t.tensor.data[2], 65504.0f);
  EXPECT_EQ(t.tensor.data[3], std::ldexp(1.0f, -24) * 2);  // 1e-7 -> nearest subnormal, 2 x 2^-24
  EXPECT_TRUE(std::isinf(t.tensor.data[4]));
}

TEST_F(TensorIo, NpyReadsBf16AsUint16AndFloat16) {
  const std::vector<uint16_t> bf{0x3F80, 0xC020};  // 1.0, -2.5
  const std::vector<int64_t> s{2};
  write_npy_u16(dir_ / "b.npy", s, bf);
  LoadedTensor t = read_npy(dir_ / "b.npy");
  EXPECT_EQ(t.dtype, StoredDtype::kBfloat16);
  EXPECT_EQ(t.tensor.data, (std::vector<float>{1.0f, -2.5f}));
}

TEST_F(TensorIo, MalformedNpyIsReported) {
  write_npy_f32(dir_ / "a.npy", std::vector<int64_t>{4, 4}, std::vector<float>(16, 1.0f));
  std::string bytes;
  {
    std::ifstream in(dir_ / "a.npy", std::ios::binary);
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  write_bytes(dir_ / "trunc.npy", bytes.substr(0, bytes.size() - 5));
  EXPECT_CONTAINS(input_error_of([&] { read_npy(dir_ / "trunc.npy"); }),
                  "truncated .npy: shape [4, 4] needs 64 bytes of data, the file has 59");
  write_bytes(dir_ / "magic.npy", "NOTNUMPY" + bytes.substr(8));
  EXPECT_CONTAINS(input_error_of([&] { read_npy(dir_ / "magic.npy"); }), "not a .npy file (bad magic)");
  std::string big_endian = bytes;
  big_endian.replace(big_endian.find("<f4"), 3, ">f4");
  write_bytes(dir_ / "be.npy", big_endian);
  EXPECT_CONTAINS(input_error_of([&] { read_npy(dir_ / "be.npy"); }), "unsupported .npy dtype '>f4'");
  EXPECT_CONTAINS(input_error_of([&] { read_npy(dir_ / "missing.npy"); }), "cannot open");
  // A negative dimension is refused, not read as its absolute value; so is one past int64.
  std::string negative = bytes;
  negative.replace(negative.find("(4, 4)"), 6, "(-4,4)");
  write_bytes(dir_ / "neg.npy", negative);
  EXPECT_CONTAINS(input_error_of([&] { read_npy(dir_ / "neg.npy"); }),
                  ".npy shape dimension -4 is not a size");
  std::string long_dim = bytes;
  long_dim.replace(long_dim.find("(4, 4)"), 6, "(99999999999999999999, 4)");
  write_bytes(dir_ / "long.npy", long_dim);
  EXPECT_CONTAINS(input_error_of([&] { read_npy(dir_ / "long.npy"); }),
                  ".npy shape dimension 99999999999999999999 is not a size");
}

TEST_F(TensorIo, SafetensorsByNameWithValidatedOffsets) {
  std::string data(24, '\0');
  const float w[4] = {1, 2, 3, 4};
  std::memcpy(data.data(), w, 16);
  const uint16_t b[4] = {0x3F80, 0x4000, 0x4040, 0x4080};  // bf16 1, 2, 3, 4
  std::memcpy(data.data() + 16, b, 8);
  const std::string header =
      R"({"__metadata__":{"format":"pt"},"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,16]},)"
      R"("b":{"dtype":"BF16","shape":[4],"data_offsets":[16,24]}})";
  write_bytes(dir_ / "m.safetensors", safetensors(header, data));
  LoadedTensor t = load_tensor((dir_ / "m.safetensors").string() + ":w");
  EXPECT_EQ(t.tensor.shape, (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(t.tensor.data, (std::vector<float>{1, 2, 3, 4}));
  LoadedTensor tb = load_tensor((dir_ / "m.safetensors").string() + ":b");
  EXPECT_EQ(tb.tensor.data, (std::vector<float>{1, 2, 3, 4}));
  EXPECT_EQ(safetensors_names(dir_ / "m.safetensors"), (std::vector<std::string>{"w", "b"}));
  EXPECT_CONTAINS(input_error_of([&] { load_tensor((dir_ / "m.safetensors").string()); }),
                  "holds 2 tensors; name one");
  EXPECT_CONTAINS(input_error_of([&] { load_tensor((dir_ / "m.safetensors").string() + ":x"); }),
                  "no tensor named 'x'");
}

TEST_F(TensorIo, SafetensorsHeaderThatLiesIsRejected) {
  const std::string data(16, '\0');
  write_bytes(dir_ / "size.safetensors",
              safetensors(R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[0,12]}})", data));
  EXPECT_CONTAINS(
      input_error_of([&] { read_safetensors(dir_ / "size.safetensors", "w"); }),
      "header lies about its size: data_offsets [0, 12] span 12 bytes, but shape [2, 2] of F32 needs 16");
  write_bytes(dir_ / "past.safetensors",
              safetensors(R"({"w":{"dtype":"F32","shape":[2,2],"data_offsets":[8,24]}})", data));
  EXPECT_CONTAINS(input_error_of([&] { read_safetensors(dir_ / "past.safetensors", "w"); }),
                  "past the end of the file");
  write_bytes(dir_ / "len.safetensors", std::string("\xff\xff\xff\xff\x00\x00\x00\x00{}", 10));
  EXPECT_CONTAINS(input_error_of([&] { read_safetensors(dir_ / "len.safetensors", ""); }), "header length");
  write_bytes(dir_ / "json.safetensors", safetensors("{not json", data));
  EXPECT_CONTAINS(input_error_of([&] { read_safetensors(dir_ / "json.safetensors", ""); }),
                  "not a JSON object");
  write_bytes(dir_ / "dtype.safetensors",
              safetensors(R"({"w":{"dtype":"I64","shape":[2],"data_offsets":[0,16]}})", data));
  EXPECT_CONTAINS(input_error_of([&] { read_safetensors(dir_ / "dtype.safetensors", "w"); }),
                  "unsupported dtype 'I64'");
}

}  // namespace
}  // namespace bwsim
