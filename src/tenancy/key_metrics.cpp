#include "tenancy/key_metrics.h"

#include <fmt/format.h>

#include "text/prometheus.h"

namespace modelgate::tenancy {

namespace {

void header(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

// name{key="K"<labels>} value
void sample(std::string& out, std::string_view name, const Key& k, std::string_view labels, std::uint64_t value) {
  out += name;
  out += "{key=\"";
  text::append_label_value(out, k.name);
  fmt::format_to(std::back_inserter(out), "\"{}}} {}\n", labels, value);
}

}  // namespace

void render_key_metrics(const KeyTable& keys, std::int64_t unix_ms, std::string& out) {
  if (keys.keys().empty()) return;
  const Windows w = windows_at(unix_ms);
  header(out, "modelgate_key_requests_total", "counter", "Requests admitted, by API key name.");
  for (const Key& k : keys.keys()) sample(out, "modelgate_key_requests_total", k, "", k.state->admitted.load());

  header(out, "modelgate_key_tokens_total", "counter",
         "Tokens the answers' usage reported, by API key name and kind.");
  for (const Key& k : keys.keys()) {
    sample(out, "modelgate_key_tokens_total", k, ",kind=\"prompt\"", k.state->prompt_tokens.load());
    sample(out, "modelgate_key_tokens_total", k, ",kind=\"completion\"", k.state->completion_tokens.load());
  }

  header(out, "modelgate_key_rejected_total", "counter",
         "Requests refused with 429, by API key name and the limit that refused them.");
  for (const Key& k : keys.keys()) {
    for (std::size_t i = 1; i < kLimitKinds; ++i) {
      sample(out, "modelgate_key_rejected_total", k,
             fmt::format(",limit=\"{}\"", limit_name(static_cast<Limit>(i))), k.state->refused[i].load());
    }
  }

  header(out, "modelgate_key_inflight", "gauge", "Requests in flight, by API key name.");
  for (const Key& k : keys.keys()) sample(out, "modelgate_key_inflight", k, "", k.state->inflight.load());

  header(out, "modelgate_key_budget_used_tokens", "gauge",
         "Tokens counted in the current UTC day and month, by API key name and period.");
  for (const Key& k : keys.keys()) {
    sample(out, "modelgate_key_budget_used_tokens", k, ",period=\"day\"", k.state->tokens_day.used(w.day));
    sample(out, "modelgate_key_budget_used_tokens", k, ",period=\"month\"", k.state->tokens_month.used(w.month));
  }
}

void render_store_metrics(const LimitsStore::Status& st, std::string& out) {
  header(out, "modelgate_limits_store_connected", "gauge",
         "1 while the limits store (auth.store) is reachable, 0 while keys are limited by its failure policy.");
  fmt::format_to(std::back_inserter(out), "modelgate_limits_store_connected {}\n", st.connected ? 1 : 0);
  header(out, "modelgate_limits_store_round_trips_total", "counter",
         "Batches of leases and usage claims sent to the limits store and answered.");
  fmt::format_to(std::back_inserter(out), "modelgate_limits_store_round_trips_total {}\n", st.round_trips);
  header(out, "modelgate_limits_store_failures_total", "counter",
         "Failed attempts to reach the limits store: connections, round trips and script errors.");
  fmt::format_to(std::back_inserter(out), "modelgate_limits_store_failures_total {}\n", st.failures);
}

}  // namespace modelgate::tenancy
