// Pieces of the Prometheus text exposition format (0.0.4) shared by the gateway's /metrics and the
// simulated engines' own: https://prometheus.io/docs/instrumenting/exposition_formats/
#pragma once

#include <string>
#include <string_view>

namespace modelgate::text {

inline constexpr std::string_view kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

// Appends `v` escaped as a label value (backslash, double quote and newline escaped; invalid
// UTF-8 replaced by U+FFFD, which the exposition format requires).
void append_label_value(std::string& out, std::string_view v);

}  // namespace modelgate::text
