// Reading and writing tensors: NumPy .npy (read and write) and .safetensors (read; float32
// tensors written).
//
// Every malformed file is an InputError naming the file and what is wrong with it: a bad magic
// string, an unsupported dtype, a header that lies about shapes or offsets, a truncated body.
#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "isa/tensor.hpp"

namespace bwsim {

/// How the values were stored on disk (they are always returned as float32).
enum class StoredDtype { kFloat32, kFloat16, kBfloat16, kFloat8E4M3, kUint8, kFloat64 };
std::string_view stored_dtype_name(StoredDtype d);

struct LoadedTensor {
  Tensor tensor;
  StoredDtype dtype = StoredDtype::kFloat32;
  std::string source;  // "file.npy" or "file.safetensors:name"
};

/// Loads `spec`: "x.npy", "x.safetensors" (the file's only tensor) or "x.safetensors:name".
/// An .npy of dtype uint16 is read as bfloat16 bit patterns, the usual way to store BF16.
LoadedTensor load_tensor(const std::string& spec);

LoadedTensor read_npy(const std::filesystem::path& file);
LoadedTensor read_safetensors(const std::filesystem::path& file, const std::string& name);
/// Tensor names in a safetensors file, in header order.
std::vector<std::string> safetensors_names(const std::filesystem::path& file);

/// The string table a safetensors file keeps under "__metadata__" (empty where it has none).
std::map<std::string, std::string> safetensors_metadata(const std::filesystem::path& file);

/// A float32 tensor for safetensors_f32_bytes (shape {} for a scalar).
struct NamedF32 {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> values;
};
/// The bytes of a .safetensors file holding `tensors` (F32, in this order) and `metadata`.
std::string safetensors_f32_bytes(std::span<const NamedF32> tensors,
                                  const std::map<std::string, std::string>& metadata);

/// The bytes of an .npy file (version 1.0, little-endian, C order); `descr` like "<f4".
std::string npy_bytes(std::string_view descr, std::span<const int64_t> shape, const void* data, size_t bytes);

/// Writers build the whole file in memory and write it atomically (temporary + rename).
void write_npy_f32(const std::filesystem::path& file, std::span<const int64_t> shape,
                   std::span<const float> v);
void write_npy_u8(const std::filesystem::path& file, std::span<const int64_t> shape,
                  std::span<const uint8_t> v);
void write_npy_u16(const std::filesystem::path& file, std::span<const int64_t> shape,
                   std::span<const uint16_t> v);
/// float16 from float32 values (round to nearest even, IEEE overflow to inf).
void write_npy_f16(const std::filesystem::path& file, std::span<const int64_t> shape,
                   std::span<const float> v);

}  // namespace bwsim
