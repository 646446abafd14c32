// HTTP/1.1 head parsing and chunked decoding without allocation; see http1_parser.h for why it is
// strict. Lines are found with memchr (string_view::find) inside a window of at most
// max_head_bytes, each line is checked against a 256-entry character table as it completes, and
// the framing fields are interpreted in one pass over the fields at the end.
#include "http1/parser.h"

#include <algorithm>
#include <utility>

namespace modelgate::http1 {

namespace {

constexpr auto npos = std::string_view::npos;

// Character classes (RFC 9110 §5.6.2 tchar, §5.5 field-vchar, RFC 3986 for the target).
enum : std::uint8_t { kToken = 1, kFieldChar = 2, kTargetChar = 4 };

constexpr std::array<std::uint8_t, 256> make_char_table() {
  std::array<std::uint8_t, 256> t{};
  constexpr std::string_view kTokenPunct = "!#$%&'*+-.^_`|~";
  for (int c = 0; c < 256; ++c) {
    const bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (alnum || (c < 128 && kTokenPunct.find(static_cast<char>(c)) != npos)) t[c] |= kToken;
    // Field values and reason phrases: HTAB, SP, VCHAR and obs-text (>= 0x80); no other control.
    if (c == '\t' || (c >= 0x20 && c != 0x7f)) t[c] |= kFieldChar;
    if (c > 0x20 && c != 0x7f) t[c] |= kTargetChar;
  }
  return t;
}
constexpr auto kChars = make_char_table();

bool all_of(std::string_view s, std::uint8_t cls) {
  for (char c : s) {
    if (!(kChars[static_cast<unsigned char>(c)] & cls)) return false;
  }
  return true;
}

bool is_token(std::string_view s) { return !s.empty() && all_of(s, kToken); }

char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c + ('a' - 'A')) : c; }

// ASCII case-insensitive, without locale.
bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

bool is_ows(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_ows(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ows(s.back())) s.remove_suffix(1);
  return s;
}

// Calls f on each comma-separated element of a list value, trimmed; stops when f returns false.
template <class F>
bool for_each_element(std::string_view list, F&& f) {
  for (;;) {
    const auto comma = list.find(',');
    if (!f(trim(list.substr(0, comma)))) return false;
    if (comma == npos) return true;
    list.remove_prefix(comma + 1);
  }
}

Status fail(const char*& error, const char* why, Status status = Status::bad) {
  error = why;
  return status;
}

// The CRLF-terminated lines of a head, read from the first `max_bytes` of the buffer, from `pos`
// on; the search for a line's end starts at `searched` (bytes before it are known to hold none).
// Every byte searched is counted in `scanned`.
class LineReader {
 public:
  LineReader(std::string_view buf, std::size_t max_bytes, std::size_t& scanned, std::size_t pos = 0,
             std::size_t searched = 0)
      : window_(buf.substr(0, max_bytes)),
        over_limit_(buf.size() > max_bytes),
        scanned_(scanned),
        pos_(pos),
        searched_(searched) {}

  // complete: `line` is the next line without its CRLF.
  Status next(std::string_view& line, const char*& error) {
    const std::size_t from = std::min(std::max(pos_, searched_), window_.size());
    const auto lf = window_.find('\n', from);
    if (lf == npos) {
      scanned_ += window_.size() - from;
      searched_ = window_.size();
      if (over_limit_) return fail(error, "the message head is larger than the limit", Status::too_large);
      return Status::incomplete;
    }
    scanned_ += lf + 1 - from;
    if (lf == pos_ || window_[lf - 1] != '\r') return fail(error, "a line ends in a bare LF, not CRLF");
    line = window_.substr(pos_, lf - 1 - pos_);
    pos_ = searched_ = lf + 1;
    return Status::complete;
  }
  std::size_t pos() const { return pos_; }
  std::size_t searched() const { return searched_; }

 private:
  std::string_view window_;
  bool over_limit_;
  std::size_t& scanned_;
  std::size_t pos_;
  std::size_t searched_;
};

bool parse_version(std::string_view s, int& version) {
  if (s == "HTTP/1.1") {
    version = 11;
  } else if (s == "HTTP/1.0") {
    version = 10;
  } else {
    return false;
  }
  return true;
}

// field-line = field-name ":" OWS field-value OWS (RFC 9112 §5). A CR left inside the line (a bare
// CR) fails the character checks.
bool parse_field_line(std::string_view line, Field& field, const char*& error) {
  if (is_ows(line.front())) {
    error = "obsolete line folding (a field line starting with whitespace)";
    return false;
  }
  const auto colon = line.find(':');
  if (colon == npos) {
    error = "a header line without a colon";
    return false;
  }
  field.name = line.substr(0, colon);
  if (field.name.empty()) {
    error = "an empty field name";
    return false;
  }
  if (!is_token(field.name)) {
    error = is_ows(field.name.back()) ? "whitespace between a field name and its colon"
                                      : "an invalid character in a field name";
    return false;
  }
  field.value = trim(line.substr(colon + 1));
  if (!all_of(field.value, kFieldChar)) {
    error = "a control character in a field value";
    return false;
  }
  return true;
}

// Reads field lines up to the empty line that ends the head.
Status read_fields(LineReader& lines, std::span<Field> fields, std::size_t max_fields, std::size_t& count,
                   const char*& error) {
  const std::size_t cap = std::min(max_fields, fields.size());
  for (;;) {
    std::string_view line;
    if (const Status s = lines.next(line, error); s != Status::complete) return s;
    if (line.empty()) return Status::complete;
    if (count == cap) return fail(error, "too many header fields", Status::too_large);
    if (!parse_field_line(line, fields[count], error)) return Status::bad;
    ++count;
  }
}

// The fields whose meaning the parser needs; all others are only collected.
enum class Known : std::uint8_t {
  other,
  host,
  expect,
  connection,
  content_type,
  content_length,
  content_encoding,
  transfer_encoding
};

// Names differ in length, so most fields are dismissed by one size comparison each.
Known classify(std::string_view name) {
  static constexpr std::pair<std::string_view, Known> kKnown[] = {
      {"host", Known::host},
      {"expect", Known::expect},
      {"connection", Known::connection},
      {"content-type", Known::content_type},
      {"content-length", Known::content_length},
      {"content-encoding", Known::content_encoding},
      {"transfer-encoding", Known::transfer_encoding},
  };
  for (const auto& [known_name, known] : kKnown) {
    if (iequals(name, known_name)) return known;
  }
  return Known::other;
}

// 1DIGIT..18DIGIT: no sign, no spaces, never overflows.
bool parse_decimal(std::string_view s, std::uint64_t& out) {
  if (s.empty() || s.size() > 18) return false;
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<std::uint64_t>(c - '0');
  }
  out = v;
  return true;
}

// What the framing and connection fields of a head say, gathered in one pass.
struct Summary {
  bool has_length = false;
  std::uint64_t length = 0;
  bool has_te = false;
  bool chunked_last = false;  // the last transfer coding, across all fields, is chunked
  int chunked = 0;            // times chunked appears
  bool close = false, keep_alive = false;
  bool expect_continue = false;
  std::size_t host_count = 0;
  std::string_view host, connection, content_type, content_encoding;
};

// Several Content-Length fields or a list ("5, 5") only when every value is the same (RFC 9110 §8.6).
const char* add_content_length(std::string_view value, Summary& s) {
  const char* error = nullptr;
  for_each_element(value, [&](std::string_view e) {
    std::uint64_t n = 0;
    if (!parse_decimal(e, n)) {
      error = "an invalid Content-Length";
    } else if (s.has_length && n != s.length) {
      error = "differing Content-Length values";
    } else {
      s.has_length = true;
      s.length = n;
    }
    return error == nullptr;
  });
  return error;
}

void add_transfer_encoding(std::string_view value, Summary& s) {
  s.has_te = true;
  for_each_element(value, [&](std::string_view coding) {
    if (coding.empty()) return true;  // empty list elements are ignored (RFC 9110 §5.6.1)
    s.chunked_last = iequals(coding, "chunked");
    if (s.chunked_last) ++s.chunked;
    return true;
  });
}

void add_connection(std::string_view value, Summary& s) {
  if (s.connection.empty()) s.connection = value;
  for_each_element(value, [&](std::string_view token) {
    s.close |= iequals(token, "close");
    s.keep_alive |= iequals(token, "keep-alive");
    return true;
  });
}

const char* summarize(std::span<const Field> fields, Summary& s) {
  for (const Field& f : fields) {
    switch (classify(f.name)) {
      case Known::content_length:
        if (const char* error = add_content_length(f.value, s)) return error;
        break;
      case Known::transfer_encoding:
        add_transfer_encoding(f.value, s);
        break;
      case Known::connection:
        add_connection(f.value, s);
        break;
      case Known::host:
        if (s.host_count++ == 0) s.host = f.value;
        break;
      case Known::expect:
        s.expect_continue |= iequals(f.value, "100-continue");
        break;
      case Known::content_type:
        if (s.content_type.empty()) s.content_type = f.value;
        break;
      case Known::content_encoding:
        if (s.content_encoding.empty()) s.content_encoding = f.value;
        break;
      case Known::other:
        break;
    }
  }
  if (s.chunked > 1) return "chunked applied more than once in Transfer-Encoding";
  return nullptr;
}

// HTTP/1.1 stays open unless "close"; HTTP/1.0 closes unless "keep-alive" (RFC 9112 §9.3).
bool keep_alive(int version, const Summary& s) { return !s.close && (version == 11 || s.keep_alive); }

std::string_view find_field(std::span<const Field> fields, std::string_view name) {
  for (const Field& f : fields) {
    if (iequals(f.name, name)) return f.value;
  }
  return {};
}

// request-line = method SP request-target SP HTTP-version (RFC 9112 §3), single spaces only.
bool parse_request_line(std::string_view line, RequestHead& out) {
  const auto sp1 = line.find(' ');
  if (sp1 == npos) return false;
  out.method = line.substr(0, sp1);
  line.remove_prefix(sp1 + 1);
  const auto sp2 = line.find(' ');
  if (sp2 == npos) return false;
  out.target = line.substr(0, sp2);
  return is_token(out.method) && !out.target.empty() && all_of(out.target, kTargetChar) &&
         parse_version(line.substr(sp2 + 1), out.version);
}

// status-line = HTTP-version SP 3DIGIT SP [ reason-phrase ] (RFC 9112 §4); the SP before an empty
// reason may be missing.
bool parse_status_line(std::string_view line, ResponseHead& out) {
  if (line.size() < 12 || !parse_version(line.substr(0, 8), out.version) || line[8] != ' ') return false;
  const char d0 = line[9], d1 = line[10], d2 = line[11];
  if (d0 < '1' || d0 > '5' || d1 < '0' || d1 > '9' || d2 < '0' || d2 > '9') return false;
  out.status = (d0 - '0') * 100 + (d1 - '0') * 10 + (d2 - '0');
  line.remove_prefix(12);
  if (line.empty()) return true;
  if (line.front() != ' ') return false;
  out.reason = line.substr(1);
  return all_of(out.reason, kFieldChar);
}

void reset(RequestHead& h) {
  h.progress = HeadProgress{};
  h.method = h.target = h.host = h.connection = {};
  h.version = 11;
  h.field_count = h.head_size = h.host_count = 0;
  h.body = Body::none;
  h.content_length = 0;
  h.keep_alive = true;
  h.expect_continue = false;
  h.error = "";
}

void reset(ResponseHead& h) {
  h.status = 0;
  h.reason = h.content_type = h.content_encoding = h.connection = {};
  h.version = 11;
  h.field_count = h.head_size = 0;
  h.body = Body::none;
  h.content_length = 0;
  h.keep_alive = true;
  h.error = "";
}

// RFC 9112 §6.1 and §6.3 for requests: anything but a clean chunked or Content-Length is refused.
Status finish_request(RequestHead& out) {
  Summary s;
  if (const char* error = summarize(out.headers(), s)) return fail(out.error, error);
  if (s.has_te) {
    if (out.version == 10) return fail(out.error, "Transfer-Encoding in an HTTP/1.0 request");
    if (s.has_length) return fail(out.error, "both Transfer-Encoding and Content-Length (ambiguous framing)");
    if (!s.chunked_last) return fail(out.error, "Transfer-Encoding does not end in chunked");
    out.body = Body::chunked;
  } else if (s.has_length) {
    out.body = Body::length;
    out.content_length = s.length;
  }
  out.keep_alive = keep_alive(out.version, s);
  out.expect_continue = s.expect_continue;
  out.host = s.host;
  out.host_count = s.host_count;
  out.connection = s.connection;
  return Status::complete;
}

// RFC 9112 §6.3 for responses: no body for HEAD, 1xx, 204 and 304; chunked only when last; a
// Transfer-Encoding with Content-Length wins but the connection is not reused.
Status finish_response(ResponseHead& out, bool head_request) {
  Summary s;
  if (const char* error = summarize(out.headers(), s)) return fail(out.error, error);
  if (s.has_te && out.version == 10) return fail(out.error, "Transfer-Encoding in an HTTP/1.0 response");
  out.keep_alive = keep_alive(out.version, s) && !(s.has_te && s.has_length);
  const bool no_body = head_request || out.status < 200 || out.status == 204 || out.status == 304;
  if (s.has_te) {
    if (!no_body) out.body = s.chunked_last ? Body::chunked : Body::until_close;
  } else {
    if (s.has_length) out.content_length = s.length;
    if (!no_body) out.body = s.has_length ? Body::length : Body::until_close;
  }
  if (out.body == Body::until_close) out.keep_alive = false;
  out.content_type = s.content_type;
  out.content_encoding = s.content_encoding;
  out.connection = s.connection;
  return Status::complete;
}

}  // namespace

std::string_view RequestHead::get(std::string_view name) const { return find_field(headers(), name); }
std::string_view ResponseHead::get(std::string_view name) const { return find_field(headers(), name); }

Status parse_request(std::string_view buf, RequestHead& out, const Limits& limits) {
  out.progress.incomplete = false;
  out.progress.scanned = 0;
  return resume_request(buf, out, limits);
}

Status resume_request(std::string_view buf, RequestHead& out, const Limits& limits) {
  HeadProgress& p = out.progress;
  if (!p.incomplete || p.base != buf.data()) {
    const std::size_t scanned = p.scanned;
    reset(out);
    p.scanned = scanned;
  }
  p.base = buf.data();
  p.incomplete = false;
  LineReader lines(buf, limits.max_head_bytes, p.scanned, p.line_start, p.searched);
  const auto stopped = [&](Status s) {
    if (s == Status::incomplete) {
      p.incomplete = true;
      p.line_start = lines.pos();
      p.searched = lines.searched();
    }
    return s;
  };
  std::string_view line;
  while (!p.request_line) {
    if (const Status s = lines.next(line, out.error); s != Status::complete) return stopped(s);
    if (!line.empty()) {
      if (!parse_request_line(line, out)) return fail(out.error, "a malformed request line");
      p.request_line = true;
    } else if (p.empty_lines++ == kMaxLeadingEmptyLines) {
      return fail(out.error, "too many empty lines before a request");
    }
  }
  const Status s = read_fields(lines, out.fields, limits.max_fields, out.field_count, out.error);
  if (s != Status::complete) return stopped(s);
  out.head_size = lines.pos();
  return finish_request(out);
}

Status parse_response(std::string_view buf, ResponseHead& out, const Limits& limits, bool head_request) {
  reset(out);
  std::size_t scanned = 0;
  LineReader lines(buf, limits.max_head_bytes, scanned);
  std::string_view line;
  if (const Status s = lines.next(line, out.error); s != Status::complete) return s;
  if (!parse_status_line(line, out)) return fail(out.error, "a malformed status line");
  const Status s = read_fields(lines, out.fields, limits.max_fields, out.field_count, out.error);
  if (s != Status::complete) return s;
  out.head_size = lines.pos();
  return finish_response(out, head_request);
}

// ChunkedDecoder. chunked-body = *chunk last-chunk trailer-section CRLF, where
// chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF (RFC 9112 §7.1).

ChunkedDecoder::Step ChunkedDecoder::next(std::string_view in) {
  Step step;
  for (;;) {
    const std::string_view rest = in.substr(step.consumed);
    std::size_t used = 0;
    switch (state_) {
      case State::size_line:
        used = size_line(rest);
        break;
      case State::data: {
        const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, rest.size()));
        step.data = rest.substr(0, n);
        step.consumed += n;
        remaining_ -= n;
        if (remaining_ == 0) state_ = State::data_crlf;
        return step;
      }
      case State::data_crlf:
        used = data_crlf(rest);
        break;
      case State::trailer:
        used = trailer_line(rest);
        break;
      case State::done:
      case State::bad:
        break;
    }
    step.consumed += used;
    if (used == 0 || state_ == State::done || state_ == State::bad) {
      step.done = state_ == State::done;
      step.bad = state_ == State::bad;
      return step;
    }
  }
}

void ChunkedDecoder::reset() {
  state_ = State::size_line;
  remaining_ = 0;
  trailer_bytes_ = 0;
}

std::size_t ChunkedDecoder::fail() {
  state_ = State::bad;
  return 0;
}

// chunk-size [ chunk-ext ] CRLF: 1 to 16 hex digits; extensions are checked for stray control
// characters and otherwise skipped.
std::size_t ChunkedDecoder::size_line(std::string_view in) {
  const auto lf = in.substr(0, kMaxSizeLine).find('\n');
  if (lf == npos) return in.size() >= kMaxSizeLine ? fail() : 0;
  if (lf == 0 || in[lf - 1] != '\r') return fail();
  const std::string_view line = in.substr(0, lf - 1);
  std::uint64_t size = 0;
  std::size_t digits = 0;
  for (; digits < line.size() && digits <= 16; ++digits) {
    const char c = lower(line[digits]);
    const int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0) break;
    size = size << 4 | static_cast<std::uint64_t>(d);
  }
  if (digits == 0 || digits > 16) return fail();
  std::string_view ext = line.substr(digits);
  while (!ext.empty() && is_ows(ext.front())) ext.remove_prefix(1);  // BWS before ';'
  if (!ext.empty() && (ext.front() != ';' || !all_of(ext, kFieldChar))) return fail();
  if (ext.empty() && digits != line.size()) return fail();  // whitespace with no extension
  remaining_ = size;
  state_ = size == 0 ? State::trailer : State::data;
  return lf + 1;
}

std::size_t ChunkedDecoder::data_crlf(std::string_view in) {
  if (in.empty()) return 0;
  if (in[0] != '\r') return fail();
  if (in.size() < 2) return 0;
  if (in[1] != '\n') return fail();
  state_ = State::size_line;
  return 2;
}

// One trailer field line, or the empty line that ends the body.
std::size_t ChunkedDecoder::trailer_line(std::string_view in) {
  const std::size_t budget = kMaxTrailerBytes - trailer_bytes_;
  const auto lf = in.substr(0, budget).find('\n');
  if (lf == npos) return in.size() >= budget ? fail() : 0;
  if (lf == 0 || in[lf - 1] != '\r') return fail();
  const std::string_view line = in.substr(0, lf - 1);
  trailer_bytes_ += lf + 1;
  if (line.empty()) {
    state_ = State::done;
  } else {
    Field field;
    const char* error = nullptr;
    if (!parse_field_line(line, field, error)) return fail();
  }
  return lf + 1;
}

}  // namespace modelgate::http1
