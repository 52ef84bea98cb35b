#include "isa/tensor_io.hpp"

#include <fmt/format.h>

#include <boost/json.hpp>

#include <bit>
#include <charconv>
#include <cstring>
#include <fstream>
#include <limits>
#include <regex>

#include "isa/scalar_format.hpp"
#include "sim/errors.hpp"
#include "sim/json_out.hpp"

namespace bwsim {

namespace fs = std::filesystem;

std::string Tensor::shape_text() const {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

std::string_view stored_dtype_name(StoredDtype d) {
  switch (d) {
    case StoredDtype::kFloat32:
      return "float32";
    case StoredDtype::kFloat16:
      return "float16";
    case StoredDtype::kBfloat16:
      return "bfloat16";
    case StoredDtype::kFloat8E4M3:
      return "float8_e4m3";
    case StoredDtype::kUint8:
      return "uint8";
    case StoredDtype::kFloat64:
      return "float64";
  }
  return "?";
}

namespace {

size_t dtype_size(StoredDtype d) {
  switch (d) {
    case StoredDtype::kFloat32:
      return 4;
    case StoredDtype::kFloat16:
    case StoredDtype::kBfloat16:
      return 2;
    case StoredDtype::kFloat8E4M3:
    case StoredDtype::kUint8:
      return 1;
    case StoredDtype::kFloat64:
      return 8;
  }
  return 1;
}

template <class T>
T load_le(const unsigned char* p) {
  T v;
  std::memcpy(&v, p, sizeof(T));  // the host is little-endian (x86-64, aarch64)
  return v;
}

void convert_values(StoredDtype d, const unsigned char* src, size_t n, std::vector<float>& out) {
  out.resize(n);
  for (size_t i = 0; i < n; ++i) {
    switch (d) {
      case StoredDtype::kFloat32:
        out[i] = load_le<float>(src + 4 * i);
        break;
      case StoredDtype::kFloat16:
        out[i] = decode(ScalarFormat::kFP16, load_le<uint16_t>(src + 2 * i));
        break;
      case StoredDtype::kBfloat16:
        out[i] = decode(ScalarFormat::kBF16, load_le<uint16_t>(src + 2 * i));
        break;
      case StoredDtype::kFloat8E4M3:
        out[i] = decode(ScalarFormat::kE4M3, src[i]);
        break;
      case StoredDtype::kUint8:
        out[i] = static_cast<float>(src[i]);
        break;
      case StoredDtype::kFloat64:
        out[i] = static_cast<float>(load_le<double>(src + 8 * i));
        break;
    }
  }
}

std::vector<unsigned char> read_all(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot open", file.string()));
  return {std::istreambuf_iterator<char>(in), {}};
}

uint64_t checked_elements(const std::vector<int64_t>& shape, const std::string& where) {
  uint64_t n = 1;
  for (int64_t d : shape) {
    if (d < 0) throw InputError(fmt::format("{}: negative dimension in shape", where));
    if (d != 0 && n > (uint64_t{1} << 40) / static_cast<uint64_t>(d)) {
      throw InputError(fmt::format("{}: shape has more than 2^40 elements", where));
    }
    n *= static_cast<uint64_t>(d);
  }
  return n;
}

}  // namespace

LoadedTensor read_npy(const fs::path& file) {
  const std::string name = file.string();
  const auto bytes = read_all(file);
  static constexpr unsigned char kMagic[] = {0x93, 'N', 'U', 'M', 'P', 'Y'};
  if (bytes.size() < 10 || std::memcmp(bytes.data(), kMagic, 6) != 0) {
    throw InputError(fmt::format("{}: not a .npy file (bad magic)", name));
  }
  const int major = bytes[6];
  size_t header_len;
  size_t header_start;
  if (major == 1) {
    header_len = load_le<uint16_t>(bytes.data() + 8);
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (bytes.size() < 12) throw InputError(fmt::format("{}: truncated .npy header", name));
    header_len = load_le<uint32_t>(bytes.data() + 8);
    header_start = 12;
  } else {
    throw InputError(fmt::format("{}: unsupported .npy version {}", name, major));
  }
  if (header_start + header_len > bytes.size())
    throw InputError(fmt::format("{}: truncated .npy header", name));
  const std::string header(bytes.begin() + static_cast<std::ptrdiff_t>(header_start),
                           bytes.begin() + static_cast<std::ptrdiff_t>(header_start + header_len));
  std::smatch m;
  static const std::regex kDescr(R"('descr'\s*:\s*'([^']*)')");
  static const std::regex kFortran(R"('fortran_order'\s*:\s*(True|False))");
  static const std::regex kShape(R"('shape'\s*:\s*\(([^)]*)\))");
  if (!std::regex_search(header, m, kDescr))
    throw InputError(fmt::format("{}: .npy header has no 'descr'", name));
  const std::string descr = m[1];
  if (!std::regex_search(header, m, kFortran)) {
    throw InputError(fmt::format("{}: .npy header has no 'fortran_order'", name));
  }
  const bool fortran = m[1] == "True";
  if (!std::regex_search(header, m, kShape))
    throw InputError(fmt::format("{}: .npy header has no 'shape'", name));
  std::vector<int64_t> shape;
  const std::string dims = m[1];
  // Each dimension: digits, optionally signed, so that a negative one is refused rather than read
  // as its absolute value; parsed with an overflow check.
  static const std::regex kInt(R"([-+]?\d+)");
  for (auto it = std::sregex_iterator(dims.begin(), dims.end(), kInt); it != std::sregex_iterator(); ++it) {
    const std::string t = it->str();
    int64_t v = 0;
    const auto [end, ec] = std::from_chars(t.data() + (t[0] == '+' ? 1 : 0), t.data() + t.size(), v);
    if (ec != std::errc{} || end != t.data() + t.size() || v < 0) {
      throw InputError(fmt::format("{}: .npy shape dimension {} is not a size (0 to {})", name, t,
                                   std::numeric_limits<int64_t>::max()));
    }
    shape.push_back(v);
  }
  StoredDtype d;
  if (descr == "<f4") {
    d = StoredDtype::kFloat32;
  } else if (descr == "<f2") {
    d = StoredDtype::kFloat16;
  } else if (descr == "<u2") {
    d = StoredDtype::kBfloat16;
  } else if (descr == "|u1" || descr == "<u1") {
    d = StoredDtype::kUint8;
  } else if (descr == "<f8") {
    d = StoredDtype::kFloat64;
  } else {
    throw InputError(fmt::format(
        "{}: unsupported .npy dtype '{}' (supported: <f4, <f2, <u2 as bfloat16, |u1, <f8)", name, descr));
  }
  const uint64_t n = checked_elements(shape, name);
  const size_t data_start = header_start + header_len;
  const uint64_t need = n * dtype_size(d);
  if (bytes.size() - data_start < need) {
    throw InputError(fmt::format("{}: truncated .npy: shape {} needs {} bytes of data, the file has {}", name,
                                 Tensor{shape, {}}.shape_text(), need, bytes.size() - data_start));
  }
  LoadedTensor out{Tensor{shape, {}}, d, name};
  convert_values(d, bytes.data() + data_start, n, out.tensor.data);
  if (fortran && shape.size() == 2) {  // column-major on disk: transpose into row-major
    std::vector<float> t(out.tensor.data.size());
    const auto r = static_cast<size_t>(shape[0]);
    const auto c = static_cast<size_t>(shape[1]);
    for (size_t i = 0; i < r; ++i) {
      for (size_t j = 0; j < c; ++j) t[i * c + j] = out.tensor.data[j * r + i];
    }
    out.tensor.data = std::move(t);
  } else if (fortran && shape.size() > 2) {
    throw InputError(
        fmt::format("{}: Fortran-order arrays of more than 2 dimensions are not supported", name));
  }
  return out;
}

namespace {

struct SafetensorsHeader {
  boost::json::object header;
  uint64_t data_start = 0;
  uint64_t file_size = 0;
};

SafetensorsHeader read_safetensors_header(std::ifstream& in, const std::string& name) {
  SafetensorsHeader h;
  in.seekg(0, std::ios::end);
  h.file_size = static_cast<uint64_t>(in.tellg());
  in.seekg(0);
  unsigned char len_bytes[8];
  if (h.file_size < 8 || !in.read(reinterpret_cast<char*>(len_bytes), 8)) {
    throw InputError(fmt::format("{}: not a safetensors file (shorter than its 8-byte header length)", name));
  }
  const auto len = load_le<uint64_t>(len_bytes);
  if (len > h.file_size - 8) {
    throw InputError(
        fmt::format("{}: safetensors header length {} exceeds the file ({} bytes)", name, len, h.file_size));
  }
  std::string text(len, '\0');
  in.read(text.data(), static_cast<std::streamsize>(len));
  boost::system::error_code ec;
  boost::json::value v = boost::json::parse(text, ec);
  if (ec || !v.is_object())
    throw InputError(fmt::format("{}: safetensors header is not a JSON object", name));
  h.header = std::move(v.as_object());
  h.data_start = 8 + len;
  return h;
}

}  // namespace

std::vector<std::string> safetensors_names(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot open", file.string()));
  auto h = read_safetensors_header(in, file.string());
  std::vector<std::string> names;
  for (const auto& kv : h.header) {
    if (kv.key() != "__metadata__") names.emplace_back(kv.key());
  }
  return names;
}

std::map<std::string, std::string> safetensors_metadata(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot open", file.string()));
  const SafetensorsHeader h = read_safetensors_header(in, file.string());
  std::map<std::string, std::string> out;
  const auto it = h.header.find("__metadata__");
  if (it == h.header.end()) return out;
  if (!it->value().is_object())
    throw InputError(fmt::format("{}: __metadata__ is not a JSON object", file.string()));
  for (const auto& kv : it->value().as_object()) {
    if (!kv.value().is_string())
      throw InputError(fmt::format("{}: __metadata__ entry '{}' is not a string", file.string(), kv.key()));
    out.emplace(std::string(kv.key()), std::string(kv.value().as_string()));
  }
  return out;
}

std::string safetensors_f32_bytes(std::span<const NamedF32> tensors,
                                  const std::map<std::string, std::string>& metadata) {
  boost::json::object header;
  if (!metadata.empty()) {
    boost::json::object m;
    for (const auto& [k, v] : metadata) m[k] = v;
    header["__metadata__"] = std::move(m);
  }
  uint64_t offset = 0;
  for (const NamedF32& t : tensors) {
    const uint64_t bytes = t.values.size() * 4;
    header[t.name] = {{"dtype", "F32"},
                      {"shape", boost::json::value_from(t.shape)},
                      {"data_offsets", boost::json::array{offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = boost::json::serialize(header);
  text.append((8 - text.size() % 8) % 8, ' ');  // the data starts 8-byte aligned
  std::string out(8, '\0');
  uint64_t len = text.size();
  for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<char>((len >> (8 * i)) & 0xFF);
  out += text;
  for (const NamedF32& t : tensors) {
    for (float v : t.values) {
      const auto bits = std::bit_cast<uint32_t>(v);
      for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((bits >> (8 * i)) & 0xFF));
    }
  }
  return out;
}

LoadedTensor read_safetensors(const fs::path& file, const std::string& tensor_name) {
  const std::string fname = file.string();
  std::ifstream in(file, std::ios::binary);
  if (!in) throw InputError(fmt::format("{}: cannot open", fname));
  SafetensorsHeader h = read_safetensors_header(in, fname);
  std::string name = tensor_name;
  if (name.empty()) {
    std::vector<std::string> names;
    for (const auto& kv : h.header) {
      if (kv.key() != "__metadata__") names.emplace_back(kv.key());
    }
    if (names.size() != 1) {
      std::string list;
      for (size_t i = 0; i < names.size() && i < 8; ++i) list += (i ? ", " : "") + names[i];
      throw InputError(fmt::format("{}: holds {} tensors; name one as {}:NAME (e.g. {}{})", fname,
                                   names.size(), fname, list, names.size() > 8 ? ", ..." : ""));
    }
    name = names.front();
  }
  const std::string where = fmt::format("{}:{}", fname, name);
  auto it = h.header.find(name);
  if (it == h.header.end() || !it->value().is_object()) {
    throw InputError(fmt::format("{}: no tensor named '{}'", fname, name));
  }
  const auto& t = it->value().as_object();
  auto field = [&](const char* key) -> const boost::json::value& {
    auto f = t.find(key);
    if (f == t.end()) throw InputError(fmt::format("{}: header entry has no '{}'", where, key));
    return f->value();
  };
  const auto& dtype_v = field("dtype");
  if (!dtype_v.is_string()) throw InputError(fmt::format("{}: 'dtype' is not a string", where));
  const std::string dtype(dtype_v.as_string());
  StoredDtype d;
  if (dtype == "F32") {
    d = StoredDtype::kFloat32;
  } else if (dtype == "F16") {
    d = StoredDtype::kFloat16;
  } else if (dtype == "BF16") {
    d = StoredDtype::kBfloat16;
  } else if (dtype == "F8_E4M3") {
    d = StoredDtype::kFloat8E4M3;
  } else if (dtype == "U8") {
    d = StoredDtype::kUint8;
  } else if (dtype == "F64") {
    d = StoredDtype::kFloat64;
  } else {
    throw InputError(fmt::format("{}: unsupported dtype '{}' (supported: F32, F16, BF16, F8_E4M3, U8, F64)",
                                 where, dtype));
  }
  std::vector<int64_t> shape;
  const auto& shape_v = field("shape");
  if (!shape_v.is_array()) throw InputError(fmt::format("{}: 'shape' is not an array", where));
  for (const auto& s : shape_v.as_array()) {
    if (!s.is_int64() && !s.is_uint64())
      throw InputError(fmt::format("{}: 'shape' holds a non-integer", where));
    shape.push_back(s.is_int64() ? s.as_int64() : static_cast<int64_t>(s.as_uint64()));
  }
  const auto& off_v = field("data_offsets");
  if (!off_v.is_array() || off_v.as_array().size() != 2) {
    throw InputError(fmt::format("{}: 'data_offsets' must be [begin, end]", where));
  }
  uint64_t off[2];
  for (int i = 0; i < 2; ++i) {
    const auto& o = off_v.as_array()[static_cast<size_t>(i)];
    if (!(o.is_uint64() || (o.is_int64() && o.as_int64() >= 0))) {
      throw InputError(fmt::format("{}: 'data_offsets' must be non-negative integers", where));
    }
    off[i] = o.is_uint64() ? o.as_uint64() : static_cast<uint64_t>(o.as_int64());
  }
  const uint64_t n = checked_elements(shape, where);
  const uint64_t need = n * dtype_size(d);
  if (off[1] < off[0] || off[1] - off[0] != need) {
    throw InputError(fmt::format(
        "{}: header lies about its size: data_offsets [{}, {}] span {} bytes, but shape {} of {} needs {}",
        where, off[0], off[1], off[1] - std::min(off[0], off[1]), Tensor{shape, {}}.shape_text(), dtype,
        need));
  }
  if (h.data_start + off[1] > h.file_size) {
    throw InputError(
        fmt::format("{}: data_offsets end at byte {} of the data section, past the end of the file "
                    "(truncated or lying header)",
                    where, off[1]));
  }
  std::vector<unsigned char> raw(need);
  in.seekg(static_cast<std::streamoff>(h.data_start + off[0]));
  if (!in.read(reinterpret_cast<char*>(raw.data()), static_cast<std::streamsize>(need))) {
    throw InputError(fmt::format("{}: could not read {} bytes of data", where, need));
  }
  LoadedTensor out{Tensor{shape, {}}, d, where};
  convert_values(d, raw.data(), n, out.tensor.data);
  return out;
}

LoadedTensor load_tensor(const std::string& spec) {
  // "file.safetensors:name" - the name may itself contain ':' only if the file part ends in .safetensors.
  const size_t pos = spec.find(".safetensors");
  if (pos != std::string::npos) {
    const std::string file = spec.substr(0, pos + 12);
    std::string name;
    if (spec.size() > pos + 12) {
      if (spec[pos + 12] != ':')
        throw InputError(fmt::format("--in {}: expected FILE.safetensors[:TENSOR]", spec));
      name = spec.substr(pos + 13);
    }
    return read_safetensors(file, name);
  }
  if (spec.ends_with(".npy")) return read_npy(spec);
  throw InputError(fmt::format("--in {}: expected a .npy or .safetensors[:TENSOR] file", spec));
}

std::string npy_bytes(std::string_view descr, std::span<const int64_t> shape, const void* data,
                      size_t bytes) {
  std::string dims;  // "3, 4"; a 1-tuple needs its comma: "3,"
  for (size_t i = 0; i < shape.size(); ++i) dims += (i ? ", " : "") + std::to_string(shape[i]);
  if (shape.size() == 1) dims += ",";
  std::string header = fmt::format("{{'descr': '{}', 'fortran_order': False, 'shape': ({}), }}", descr, dims);
  // Pad so the data starts on a 64-byte boundary, header ending in '\n' (NEP 1).
  const size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string out("\x93NUMPY\x01\x00", 8);
  const auto len = static_cast<uint16_t>(header.size());
  out.push_back(static_cast<char>(len & 0xFF));
  out.push_back(static_cast<char>(len >> 8));
  out += header;
  out.append(static_cast<const char*>(data), bytes);
  return out;
}

void write_npy_f32(const fs::path& file, std::span<const int64_t> shape, std::span<const float> v) {
  write_file_atomic(file, npy_bytes("<f4", shape, v.data(), v.size_bytes()), "--out");
}
void write_npy_u8(const fs::path& file, std::span<const int64_t> shape, std::span<const uint8_t> v) {
  write_file_atomic(file, npy_bytes("|u1", shape, v.data(), v.size_bytes()), "--out");
}
void write_npy_u16(const fs::path& file, std::span<const int64_t> shape, std::span<const uint16_t> v) {
  write_file_atomic(file, npy_bytes("<u2", shape, v.data(), v.size_bytes()), "--out");
}

void write_npy_f16(const fs::path& file, std::span<const int64_t> shape, std::span<const float> v) {
  std::vector<uint16_t> h(v.size());
  for (size_t i = 0; i < v.size(); ++i)
    h[i] = static_cast<uint16_t>(encode(ScalarFormat::kFP16, v[i], false));
  write_file_atomic(file, npy_bytes("<f2", shape, h.data(), h.size() * 2), "--out");
}

}  // namespace bwsim
