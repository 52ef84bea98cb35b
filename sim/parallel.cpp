#include "sim/parallel.hpp"

#include <fmt/format.h>

#include <charconv>
#include <cstdlib>
#include <string_view>

#include "sim/errors.hpp"

namespace bwsim {

namespace {
thread_local bool t_serial = false;
}  // namespace

SerialScope::SerialScope() : was_(t_serial) { t_serial = true; }
SerialScope::~SerialScope() { t_serial = was_; }

unsigned worker_threads() {
  if (t_serial) return 1;
  static const unsigned n = [] {
    if (const char* env = std::getenv("BWSIM_THREADS")) {
      const std::string_view s(env);
      unsigned v = 0;
      auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
      if (ec != std::errc{} || p != s.data() + s.size() || v == 0)
        throw InputError(fmt::format("BWSIM_THREADS={}: expected a positive integer", s));
      return v;
    }
    return std::max(1u, std::thread::hardware_concurrency());
  }();
  return n;
}

}  // namespace bwsim
