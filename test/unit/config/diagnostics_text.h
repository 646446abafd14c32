// The printed diagnostics of a load, as the config tests assert them.
#pragma once

#include <string>
#include <string_view>

#include <gtest/gtest.h>

#include "config/loader.h"

namespace modelgate::config::printed {

// Every diagnostic, one printed line each.
inline std::string all(const LoadResult& r) {
  std::string out;
  for (const auto& d : r.diagnostics) out += d.str() + "\n";
  return out;
}

// The one diagnostic whose printed form contains `fragment`; fails the test if not exactly one.
inline std::string find(const LoadResult& r, std::string_view fragment) {
  std::string found;
  int n = 0;
  for (const auto& d : r.diagnostics) {
    const std::string s = d.str();
    if (s.find(fragment) != std::string::npos) {
      found = s;
      ++n;
    }
  }
  EXPECT_EQ(n, 1) << "looking for \"" << fragment << "\" in:\n" << all(r);
  return found;
}

}  // namespace modelgate::config::printed
