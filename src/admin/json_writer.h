// A minimal streaming JSON writer for the admin API: appends to one string, puts the commas in
// the right places, escapes strings (RFC 8259 §7) and writes non-finite numbers as null. The
// caller keeps begin/end balanced; nothing is validated beyond that.
#pragma once

#include "text/json_escape.h"

#include <cmath>
#include <cstdint>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

namespace modelgate::admin {

class JsonWriter {
 public:
  JsonWriter& begin_object() { return open('{'); }
  JsonWriter& end_object() { return close('}'); }
  JsonWriter& begin_array() { return open('['); }
  JsonWriter& end_array() { return close(']'); }

  JsonWriter& key(std::string_view k) {
    comma();
    string(k);
    out_ += ':';
    need_comma_ = false;
    return *this;
  }

  JsonWriter& value(std::string_view s) {
    comma();
    string(s);
    return done();
  }
  JsonWriter& value(const char* s) { return value(std::string_view(s)); }
  JsonWriter& value(const std::string& s) { return value(std::string_view(s)); }
  JsonWriter& value(bool b) { return raw(b ? "true" : "false"); }
  JsonWriter& value(int v) { return number(v); }
  JsonWriter& value(unsigned v) { return number(v); }
  JsonWriter& value(std::int64_t v) { return number(v); }
  JsonWriter& value(std::uint64_t v) { return number(v); }
  JsonWriter& value(double v) {
    if (!std::isfinite(v)) return null();
    // Two decimals are plenty for rates and milliseconds, and keep the payload small.
    double rounded = std::round(v * 100) / 100;
    return number(rounded == 0 ? 0.0 : rounded);  // no "-0"
  }
  template <class T>
  JsonWriter& value(const std::optional<T>& v) {
    return v ? value(*v) : null();
  }
  JsonWriter& value(const std::vector<std::string>& items) {
    begin_array();
    for (const auto& item : items) value(item);
    return end_array();
  }
  JsonWriter& null() { return raw("null"); }

  template <class T>
  JsonWriter& field(std::string_view k, const T& v) {
    key(k);
    return value(v);
  }

  // A value that is already JSON text.
  JsonWriter& raw(std::string_view json) {
    comma();
    out_ += json;
    return done();
  }

  std::string& str() { return out_; }
  std::string take() { return std::move(out_); }

  static void escape(std::string& out, std::string_view s) { text::append_json_escaped(out, s); }


 private:
  template <class N>
  JsonWriter& number(N v) {
    comma();
    fmt::format_to(std::back_inserter(out_), "{}", v);
    return done();
  }
  void string(std::string_view s) {
    out_ += '"';
    escape(out_, s);
    out_ += '"';
  }
  JsonWriter& open(char c) {
    comma();
    out_ += c;
    need_comma_ = false;
    return *this;
  }
  JsonWriter& close(char c) {
    out_ += c;
    return done();
  }
  void comma() {
    if (need_comma_) out_ += ',';
  }
  JsonWriter& done() {
    need_comma_ = true;
    return *this;
  }

  std::string out_;
  bool need_comma_ = false;
};

}  // namespace modelgate::admin
