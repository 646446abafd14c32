// Walking the parts of a multipart/form-data body (RFC 7578, framed as RFC 2046 §5.1.1), for the
// gateway's model extractor and the sim's audio endpoints. Views into the body; no copies.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace modelgate::http1 {

// The boundary of a `multipart/form-data; boundary=...` Content-Type (RFC 2046 §5.1.1: 1 to 70
// characters, token or quoted). Empty for any other type or an invalid boundary.
std::string_view form_boundary(std::string_view content_type);

inline constexpr std::size_t kMaxFormBoundary = 70;  // RFC 2046 §5.1.1

struct FormPart {
  std::string_view name;      // the Content-Disposition name (quoted-pairs undone)
  std::string_view content;
  bool is_file = false;         // a filename parameter: an upload rather than a plain field
  bool identity_coding = true;  // no Content-Transfer-Encoding, or binary/8bit/7bit
};

class FormParts {
 public:
  FormParts(std::string_view body, std::string_view boundary);

  // The next part into `part` (its views valid until the next call). False at the close
  // delimiter, or on a malformed body: then problem() says what is wrong.
  bool next(FormPart& part);
  std::string_view problem() const { return problem_; }

 private:
  bool fail(std::string_view problem);

  std::string_view delimiter() const { return {delimiter_, delimiter_size_}; }  // CRLF "--" boundary

  std::string_view body_;
  char delimiter_[kMaxFormBoundary + 4] = {'\r', '\n', '-', '-'};
  std::size_t delimiter_size_ = 0;
  std::size_t at_ = 0;     // the next delimiter (without its CRLF)
  bool done_ = false;
  std::string_view problem_;
  std::string scratch_;  // a parameter with quoted-pairs, unescaped
  std::string name_;     // the part's name when it had quoted-pairs
};

}  // namespace modelgate::http1
