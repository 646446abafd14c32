// The parts of a multipart/form-data body (RFC 7578, framed as RFC 2046 §5.1.1):
//
//   preamble CRLF? "--" boundary padding CRLF  headers CRLF CRLF  content
//   CRLF "--" boundary padding CRLF  headers CRLF CRLF  content  ...  CRLF "--" boundary "--"
//
// Each part's headers are read (at most kMaxPartHead bytes); its content is skipped by searching
// for the next delimiter, so a file costs one search over its bytes.
//
// Whatever a Python server (python-multipart, behind Starlette/FastAPI, as in vLLM and
// Xinference) would decode into a name that this walker would not see is refused rather than
// missed: the RFC 2231 `name*=` form, a second Content-Disposition or name. Quoted names are
// unescaped as that parser does (`"mod\el"` is "model").
#include <algorithm>
#include <string>

#include "http1/form_parts.h"

namespace modelgate::http1 {

namespace {

constexpr std::size_t kMaxPartHead = 8192;  // the header block of one part

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == lower(y); });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// RFC 2046 bchars: DIGIT / ALPHA / "'()+_,-./:=?" and space (not last).
bool boundary_char(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         std::string_view("'()+_,-./:=? ").find(c) != std::string_view::npos;
}

// One `;`-separated parameter of a header value: name and value (a quoted-string unquoted into
// `scratch` only when it holds a quoted-pair). `rest` moves past it; false on a syntax error.
struct Param {
  std::string_view name;
  std::string_view value;
  bool unescaped = false;  // value points into scratch
};

bool next_param(std::string_view& rest, Param& out, std::string& scratch) {
  rest = trim(rest);
  if (rest.empty() || rest.front() != ';') return false;
  rest = trim(rest.substr(1));
  const auto eq = rest.find('=');
  if (eq == std::string_view::npos) return false;
  out.name = trim(rest.substr(0, eq));
  rest = trim(rest.substr(eq + 1));
  if (!rest.empty() && rest.front() == '"') {
    std::size_t i = 1;
    bool escaped = false;
    for (; i < rest.size() && rest[i] != '"'; ++i) {
      if (rest[i] == '\\') {
        escaped = true;
        ++i;
      }
    }
    if (i >= rest.size()) return false;  // no closing quote
    out.value = rest.substr(1, i - 1);
    out.unescaped = escaped;
    rest.remove_prefix(i + 1);
    if (escaped) {
      scratch.clear();
      for (std::size_t j = 0; j < out.value.size(); ++j) {
        if (out.value[j] == '\\' && j + 1 < out.value.size()) ++j;
        scratch += out.value[j];
      }
      out.value = scratch;
    }
    return true;
  }
  const auto end = rest.find(';');
  out.unescaped = false;
  out.value = trim(rest.substr(0, end));
  rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end);
  return !out.value.empty();
}

// Fills `part`'s name, kind and coding from its header block; a problem when it is refused.
std::string_view read_part_head(std::string_view head, FormPart& part, std::string& scratch,
                                std::string& unescaped_name) {
  part = FormPart{};
  bool disposition_seen = false;
  while (!head.empty()) {
    const auto eol = head.find("\r\n");
    const std::string_view line = head.substr(0, eol);
    head = eol == std::string_view::npos ? std::string_view{} : head.substr(eol + 2);
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) return "a part header line has no colon";
    const std::string_view name = line.substr(0, colon);
    std::string_view value = trim(line.substr(colon + 1));
    if (iequals(name, "content-transfer-encoding")) {
      part.identity_coding = iequals(value, "binary") || iequals(value, "8bit") || iequals(value, "7bit");
      continue;
    }
    if (!iequals(name, "content-disposition")) continue;
    if (disposition_seen) return "a part has two Content-Disposition headers";
    disposition_seen = true;
    const auto semi = value.find(';');
    if (!iequals(trim(value.substr(0, semi)), "form-data"))
      return "a part's Content-Disposition is not form-data (RFC 7578 §4.2)";
    value = semi == std::string_view::npos ? std::string_view{} : value.substr(semi);
    bool name_seen = false;
    Param p;
    while (!trim(value).empty()) {
      if (!next_param(value, p, scratch)) return "a part's Content-Disposition is malformed";
      if (iequals(p.name, "name*")) return "a part is named with name*=; write name=\"...\" (RFC 7578 §4.2)";
      if (iequals(p.name, "filename") || iequals(p.name, "filename*")) {
        part.is_file = true;
        continue;
      }
      if (!iequals(p.name, "name")) continue;
      if (name_seen) return "a part's Content-Disposition has two names";
      name_seen = true;
      part.name = p.value;
      if (p.unescaped) part.name = unescaped_name.assign(p.value);  // scratch is reused by the next parameter
    }
    if (!name_seen) return "a part's Content-Disposition has no name (RFC 7578 §4.2)";
  }
  if (!disposition_seen) return "a part has no Content-Disposition header (RFC 7578 §4.2)";
  return {};
}

}  // namespace

std::string_view form_boundary(std::string_view content_type) {
  const auto semi = content_type.find(';');
  if (!iequals(trim(content_type.substr(0, semi)), "multipart/form-data") || semi == std::string_view::npos)
    return {};
  std::string_view rest = content_type.substr(semi);
  std::string scratch;
  Param p;
  while (next_param(rest, p, scratch)) {
    if (!iequals(p.name, "boundary")) continue;
    const std::string_view b = p.value;
    // A quoted-pair is refused: no client escapes a boundary, and the view must be into the header.
    if (b.empty() || b.size() > kMaxFormBoundary || b.back() == ' ' || p.unescaped ||
        !std::all_of(b.begin(), b.end(), boundary_char))
      return {};
    return b;
  }
  return {};
}

FormParts::FormParts(std::string_view body, std::string_view boundary) : body_(body) {
  if (boundary.empty() || boundary.size() > kMaxFormBoundary) {
    fail("the multipart boundary is invalid");
    return;
  }
  std::copy(boundary.begin(), boundary.end(), delimiter_ + 4);
  delimiter_size_ = boundary.size() + 4;
  // The first delimiter: at the start, or after a preamble.
  if (body.starts_with(delimiter().substr(2))) return;
  at_ = body.find(delimiter());
  if (at_ == std::string_view::npos) {
    fail("the body has no part with the Content-Type's boundary");
    return;
  }
  at_ += 2;
}

bool FormParts::fail(std::string_view problem) {
  problem_ = problem;
  done_ = true;
  return false;
}

bool FormParts::next(FormPart& part) {
  if (done_) return false;
  const std::string_view body = body_;
  std::size_t p = at_ + delimiter_size_ - 2;
  if (body.substr(p, 2) == "--") {  // the close delimiter: the parts end here
    done_ = true;
    return false;
  }
  while (p < body.size() && (body[p] == ' ' || body[p] == '\t')) ++p;  // transport padding
  if (body.substr(p, 2) != "\r\n") return fail("a multipart delimiter is not followed by CRLF");
  p += 2;
  // The header block ends at an empty line (at once, when the part has no headers).
  std::size_t head_end = p;
  if (body.substr(p, 2) != "\r\n") {
    head_end = body.substr(p, kMaxPartHead).find("\r\n\r\n");
    if (head_end == std::string_view::npos) return fail("a part's headers do not end with an empty line within 8 KiB");
    head_end += p + 2;
  }
  const std::string_view problem = read_part_head(body.substr(p, head_end - p), part, scratch_, name_);
  if (!problem.empty()) return fail(problem);
  const std::size_t content = head_end + 2;
  const std::size_t next = body.find(delimiter(), content);
  if (next == std::string_view::npos) return fail("the multipart body ends inside a part (no close delimiter)");
  part.content = body.substr(content, next - content);
  at_ = next + 2;
  return true;
}

}  // namespace modelgate::http1
