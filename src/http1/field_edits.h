// Header fields a middleware sets or removes on a forwarded message (Traefik's headers,
// basicAuth.removeHeader, forwardAuth.authResponseHeaders, ...), applied while the head is written
// (head.h): a field the edits name is left out of the copied head, and each edit that sets a value
// is appended. Names compare case-insensitively (RFC 9110 §5.1).
//
// The list is reused from request to request (it lives in the exchange state): clear() keeps the
// strings' capacity, so a steady stream of requests through the same middlewares allocates nothing.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace modelgate::http1 {

class FieldEdits {
 public:
  // Sets `name` to `value`, replacing the field and any earlier edit of it; an empty value
  // removes the field (Traefik's rule for customRequestHeaders and customResponseHeaders).
  void set(std::string_view name, std::string_view value);
  void remove(std::string_view name) { set(name, {}); }

  bool empty() const { return count_ == 0; }
  // Whether a field of that name is replaced or removed.
  bool touches(std::string_view name) const;
  // The value set for `name`, or nullptr when it is untouched or removed.
  const std::string* value(std::string_view name) const;
  // Appends "Name: value\r\n" for each field set.
  void append_to(std::string& out) const;
  void clear() { count_ = 0; }

 private:
  struct Edit {
    std::string name;
    std::string value;  // empty: removed
  };
  std::vector<Edit> edits_;  // the first count_ are in use
  std::size_t count_ = 0;
};

}  // namespace modelgate::http1
