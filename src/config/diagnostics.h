// Problems found in a configuration file, each with its place, printed as
// FILE:LINE:COL: error: what is wrong, what was expected
#pragma once

#include <string>
#include <vector>

namespace modelgate::config {

enum class Severity { warning, error };

struct Diagnostic {
  Severity severity = Severity::error;
  std::string file;
  int line = 0;    // 1-based; 0 when the problem has no place (e.g. file missing)
  int column = 0;  // 1-based
  std::string message;

  std::string str() const;  // "FILE:LINE:COL: error: message"
};

bool has_errors(const std::vector<Diagnostic>& ds);

}  // namespace modelgate::config
