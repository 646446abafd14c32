#include "config/diagnostics.h"

#include <algorithm>

#include <fmt/format.h>

namespace modelgate::config {

std::string Diagnostic::str() const {
  const char* kind = severity == Severity::error ? "error" : "warning";
  if (line <= 0) return fmt::format("{}: {}: {}", file, kind, message);
  if (column <= 0) return fmt::format("{}:{}: {}: {}", file, line, kind, message);
  return fmt::format("{}:{}:{}: {}: {}", file, line, column, kind, message);
}

bool has_errors(const std::vector<Diagnostic>& ds) {
  return std::any_of(ds.begin(), ds.end(),
                     [](const Diagnostic& d) { return d.severity == Severity::error; });
}

}  // namespace modelgate::config
