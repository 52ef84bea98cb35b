// JSON input with correctly rounded numbers. Boost.JSON 1.81's parser may land a decimal one
// ulp off the nearest double (exact parsing came in 1.83); bwsim reads model constants from JSON
// (LongRoPE factors, YaRN parameters) and promises bit-exact numerics, so it re-reads every
// non-integer number from its text with std::from_chars, which rounds correctly.
#pragma once

#include <boost/json/parse_options.hpp>
#include <boost/json/value.hpp>
#include <boost/system/error_code.hpp>

#include <cstddef>
#include <string_view>

namespace bwsim {

struct JsonParse {
  boost::json::value value;
  boost::system::error_code error;  // set: `consumed` is where parsing stopped
  size_t consumed = 0;
};

/// Parses one JSON document; numbers with a fraction or exponent are correctly rounded doubles.
JsonParse parse_json_exact(std::string_view text, const boost::json::parse_options& options = {});

}  // namespace bwsim
