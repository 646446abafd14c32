// The zero-allocation HTTP/1.1 head parser and chunked decoder: every framing rule, accepted and
// refused, fed whole and in pieces.
#include "http1/parser.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <new>
#include <string>
#include <string_view>
#include <vector>

// Counts heap allocations on this thread, to check that parsing never allocates. Replacing the
// global operator new applies to the whole test binary; it only counts and forwards to malloc.
namespace {
thread_local std::size_t g_allocations = 0;
}  // namespace

void* operator new(std::size_t n) {
  ++g_allocations;
  if (void* p = std::malloc(n == 0 ? 1 : n)) return p;
  throw std::bad_alloc();
}
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace {

using namespace std::string_literals;
using namespace modelgate::http1;

// A head is ~3 KiB; one per thread keeps the table-driven tests short.
Status request(std::string_view buf, const Limits& limits = {}) {
  thread_local RequestHead head;
  return parse_request(buf, head, limits);
}

Status response(std::string_view buf, bool head_request = false) {
  thread_local ResponseHead head;
  return parse_response(buf, head, Limits{}, head_request);
}

// A request with `fields` (complete lines) after the request line.
std::string req_with(std::string_view fields, std::string_view start = "POST /v1/chat HTTP/1.1") {
  return std::string(start) + "\r\nHost: gw\r\n" + std::string(fields) + "\r\n";
}

std::string resp_with(std::string_view fields, std::string_view start = "HTTP/1.1 200 OK") {
  return std::string(start) + "\r\n" + std::string(fields) + "\r\n";
}

// n header fields "X-<i>: v".
std::string n_fields(std::size_t n) {
  std::string out;
  for (std::size_t i = 0; i < n; ++i) out += "X-" + std::to_string(i) + ": v\r\n";
  return out;
}

const std::string kGet =
    "GET /v1/models?x=1 HTTP/1.1\r\n"
    "Host: gw.example:8080\r\n"
    "User-Agent: test/1.0\r\n"
    "Accept:  \t*/* \t\r\n"
    "\r\n";

// ---------------------------------------------------------------------------------------------
// Requests

TEST(Http1Request, ParsesSimpleGet) {
  RequestHead h;
  ASSERT_EQ(parse_request(kGet, h, {}), Status::complete) << h.error;
  EXPECT_EQ(h.method, "GET");
  EXPECT_EQ(h.target, "/v1/models?x=1");
  EXPECT_EQ(h.version, 11);
  EXPECT_EQ(h.head_size, kGet.size());
  ASSERT_EQ(h.field_count, 3u);
  EXPECT_EQ(h.headers().size(), 3u);
  EXPECT_EQ(h.fields[0].name, "Host");
  EXPECT_EQ(h.fields[0].value, "gw.example:8080");
  EXPECT_EQ(h.fields[2].name, "Accept");
  EXPECT_EQ(h.fields[2].value, "*/*");  // OWS trimmed on both sides
  EXPECT_EQ(h.host, "gw.example:8080");
  EXPECT_EQ(h.host_count, 1u);
  EXPECT_EQ(h.body, Body::none);
  EXPECT_TRUE(h.keep_alive);
  EXPECT_FALSE(h.expect_continue);
  EXPECT_STREQ(h.error, "");
  // Views point into the caller's buffer.
  EXPECT_EQ(h.method.data(), kGet.data());
}

TEST(Http1Request, GetIsCaseInsensitiveAndReturnsFirst) {
  RequestHead h;
  const std::string buf = req_with("X-Model: a\r\nx-model: b\r\n");
  ASSERT_EQ(parse_request(buf, h, {}), Status::complete);
  EXPECT_EQ(h.get("x-MODEL"), "a");
  EXPECT_EQ(h.get("HOST"), "gw");
  EXPECT_EQ(h.get("missing"), "");
  EXPECT_EQ(h.get("x-mode"), "");
}

TEST(Http1Request, FieldValues) {
  RequestHead h;
  const std::string buf =
      req_with("Empty:\r\nTabs:\t a \t b\t \r\nNoSpace:v\r\nUtf8: caf\xc3\xa9\r\nColons: a:b: c\r\n");
  ASSERT_EQ(parse_request(buf, h, {}), Status::complete) << h.error;
  EXPECT_EQ(h.get("empty"), "");
  EXPECT_EQ(h.get("tabs"), "a \t b");  // inner whitespace kept
  EXPECT_EQ(h.get("nospace"), "v");
  EXPECT_EQ(h.get("utf8"), "caf\xc3\xa9");  // obs-text allowed in values
  EXPECT_EQ(h.get("colons"), "a:b: c");
}

TEST(Http1Request, AcceptsValidRequestLines) {
  RequestHead h;
  struct Case {
    std::string line;
    std::string_view method, target;
    int version;
  };
  const std::vector<Case> cases = {
      {"OPTIONS * HTTP/1.1", "OPTIONS", "*", 11},
      {"CONNECT gw:443 HTTP/1.1", "CONNECT", "gw:443", 11},
      {"GET http://gw/a?b=c HTTP/1.0", "GET", "http://gw/a?b=c", 10},
      {"M-SEARCH /x HTTP/1.1", "M-SEARCH", "/x", 11},
      {"X!#$%&'*+.^_`|~9 / HTTP/1.1", "X!#$%&'*+.^_`|~9", "/", 11},
      {"GET /caf\xc3\xa9 HTTP/1.1", "GET", "/caf\xc3\xa9", 11},
  };
  for (const auto& c : cases) {
    const std::string buf = c.line + "\r\nHost: gw\r\n\r\n";
    ASSERT_EQ(parse_request(buf, h, {}), Status::complete) << c.line << ": " << h.error;
    EXPECT_EQ(h.method, c.method);
    EXPECT_EQ(h.target, c.target);
    EXPECT_EQ(h.version, c.version);
  }
}

TEST(Http1Request, RejectsMalformedRequestLines) {
  const std::vector<std::string> lines = {
      "GET  / HTTP/1.1",
      "GET /  HTTP/1.1",
      "GET / HTTP/1.1 ",
      " GET / HTTP/1.1",
      "GET\t/ HTTP/1.1",
      "GET /\tHTTP/1.1",
      "GET / http/1.1",
      "GET / HTTP/1.2",
      "GET / HTTP/2.0",
      "GET / HTTP/1.10",
      "GET / HTTP/1",
      "GET / HTTP/0.9",
      "GET /",
      "GET",
      "/ HTTP/1.1",
      "G(T / HTTP/1.1",
      "GE@T / HTTP/1.1",
      "GET: / HTTP/1.1",
      "GET /a b HTTP/1.1",
      "GET /a\x01z HTTP/1.1",
      "GET /a\x7f HTTP/1.1",
      "GET /a\x1b HTTP/1.1",
      "GET / HTTP/1.1\r",
      "GET /a\rb HTTP/1.1",
      "G\x80T / HTTP/1.1",
      "GET / HTTP/1.1 extra",
      "GET  HTTP/1.1",
  };
  for (const auto& line : lines) {
    RequestHead h;
    EXPECT_EQ(parse_request(line + "\r\nHost: gw\r\n\r\n", h, {}), Status::bad) << line;
    EXPECT_STRNE(h.error, "") << line;
  }
}

TEST(Http1Request, RejectsBareLfAndBareCr) {
  const std::vector<std::string> bufs = {
      "GET / HTTP/1.1\nHost: gw\r\n\r\n",     "GET / HTTP/1.1\r\nHost: gw\n\r\n",
      "GET / HTTP/1.1\r\nHost: gw\r\n\n",     "GET / HTTP/1.1\r\nHost: gw\r\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: g\rw\r\n\r\n", "GET / HTTP/1.1\r\n\rHost: gw\r\n\r\n",
      "GET / HTTP/1.1\r\nHost: gw\r\n\r\r\n", "\nGET / HTTP/1.1\r\nHost: gw\r\n\r\n",
      "\r\r\nGET / HTTP/1.1\r\n\r\n",         "GET / HTTP/1.1\r\nHost\r: gw\r\n\r\n",
  };
  for (const auto& buf : bufs) EXPECT_EQ(request(buf), Status::bad) << testing::PrintToString(buf);
}

TEST(Http1Request, BareLfIsBadBeforeTheHeadIsComplete) {
  EXPECT_EQ(request("GET / HTTP/1.1\nHost"), Status::bad);
  EXPECT_EQ(request("GET / HTTP/1.1\r\nHost: gw\nX"), Status::bad);
  // A lone CR at the end may still become CRLF.
  EXPECT_EQ(request("GET / HTTP/1.1\r"), Status::incomplete);
}

TEST(Http1Request, RejectsMalformedFieldLines) {
  const std::vector<std::string> fields = {
      "Host : gw2\r\n", "X-A\t: b\r\n",     "X A: b\r\n",        ": b\r\n",
      "NoColon\r\n",    " X-Folded: b\r\n", "\tX-Folded: b\r\n", "X-A: a\r\n continued\r\n",
      "X(Y): b\r\n",    "X\x80: b\r\n",     "X-A: a\x01z\r\n",   "X-A: a\x7f\r\n",
      "X-A: a\x1f\r\n", "X-A: a\x00z\r\n"s, "X-A: \x00\r\n"s,    "X-A: a\x0bz\r\n",
  };
  for (const auto& f : fields) {
    RequestHead h;
    EXPECT_EQ(parse_request(req_with(f), h, {}), Status::bad) << testing::PrintToString(f);
    EXPECT_STRNE(h.error, "");
  }
  // Folding gets its own message: a client sending it needs to know what to fix.
  RequestHead h;
  EXPECT_EQ(parse_request(req_with("X-A: a\r\n b\r\n"), h, {}), Status::bad);
  EXPECT_NE(std::string_view(h.error).find("folding"), std::string_view::npos) << h.error;
}

TEST(Http1Request, SkipsAFewLeadingEmptyLines) {
  RequestHead h;
  std::string prefix;
  for (std::size_t i = 1; i <= kMaxLeadingEmptyLines; ++i) {
    prefix += "\r\n";
    const std::string buf = prefix + kGet;
    ASSERT_EQ(parse_request(buf, h, {}), Status::complete) << i << ": " << h.error;
    EXPECT_EQ(h.method, "GET");
    EXPECT_EQ(h.head_size, buf.size());  // counted from the start of the buffer
  }
  EXPECT_EQ(request(prefix + "\r\n" + kGet), Status::bad);
  EXPECT_EQ(request("\r\n"), Status::incomplete);
  EXPECT_EQ(request("\r\n\r"), Status::incomplete);
}

TEST(Http1Request, ByteByByte) {
  RequestHead h;
  for (std::size_t n = 0; n < kGet.size(); ++n) {
    ASSERT_EQ(parse_request(std::string_view(kGet).substr(0, n), h, {}), Status::incomplete) << n;
  }
  ASSERT_EQ(parse_request(kGet, h, {}), Status::complete);
  EXPECT_EQ(h.head_size, kGet.size());
}

TEST(Http1Request, PipelinedBytesAreNotConsumed) {
  const std::string head = req_with("Content-Length: 5\r\n");
  const std::string buf = head + "hello" + kGet;
  RequestHead h;
  for (std::size_t n = head.size(); n <= buf.size(); ++n) {
    ASSERT_EQ(parse_request(std::string_view(buf).substr(0, n), h, {}), Status::complete) << n;
    EXPECT_EQ(h.head_size, head.size());
    EXPECT_EQ(h.body, Body::length);
    EXPECT_EQ(h.content_length, 5u);
  }
  // The next request starts after the body.
  ASSERT_EQ(parse_request(std::string_view(buf).substr(head.size() + 5), h, {}), Status::complete);
  EXPECT_EQ(h.method, "GET");
  EXPECT_EQ(h.head_size, kGet.size());
}

TEST(Http1Request, ContentLengthAccepted) {
  const std::vector<std::pair<std::string, std::uint64_t>> cases = {
      {"Content-Length: 42\r\n", 42},
      {"content-LENGTH:   42 \t\r\n", 42},
      {"Content-Length: 0\r\n", 0},
      {"Content-Length: 007\r\n", 7},
      {"Content-Length: 5\r\nContent-Length: 5\r\n", 5},
      {"Content-Length: 5, 5\r\n", 5},
      {"Content-Length: 5,5 ,\t5\r\n", 5},
      {"Content-Length: 999999999999999999\r\n", 999999999999999999ull},
  };
  for (const auto& [fields, length] : cases) {
    RequestHead h;
    ASSERT_EQ(parse_request(req_with(fields), h, {}), Status::complete) << fields << h.error;
    EXPECT_EQ(h.body, Body::length) << fields;
    EXPECT_EQ(h.content_length, length) << fields;
  }
}

TEST(Http1Request, ContentLengthRejected) {
  const std::vector<std::string> values = {
      "+5", "-5", "5a", "", "0x5", "5 5", "5.0", "5, 6", "5,", ", 5", "5,,5", "1000000000000000000", " - ",
  };
  for (const auto& v : values) {
    RequestHead h;
    EXPECT_EQ(parse_request(req_with("Content-Length: " + v + "\r\n"), h, {}), Status::bad) << v;
    EXPECT_STRNE(h.error, "");
  }
  EXPECT_EQ(request(req_with("Content-Length: 5\r\nContent-Length: 6\r\n")), Status::bad);
  EXPECT_EQ(request(req_with("Content-Length: 5\r\nX: y\r\ncontent-length: 5, 50\r\n")), Status::bad);
}

TEST(Http1Request, TransferEncodingAccepted) {
  const std::vector<std::string> fields = {
      "Transfer-Encoding: chunked\r\n",
      "transfer-encoding: CHUNKED\r\n",
      "Transfer-Encoding:  Chunked \r\n",
      "Transfer-Encoding: gzip, chunked\r\n",
      "Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n",
      "Transfer-Encoding: gzip,,chunked,\r\n",  // empty list elements are ignored (RFC 9110 §5.6.1)
  };
  for (const auto& f : fields) {
    RequestHead h;
    ASSERT_EQ(parse_request(req_with(f), h, {}), Status::complete) << f << h.error;
    EXPECT_EQ(h.body, Body::chunked) << f;
    EXPECT_EQ(h.content_length, 0u);
  }
}

TEST(Http1Request, TransferEncodingRejected) {
  const std::vector<std::string> fields = {
      "Transfer-Encoding: chunked, gzip\r\n",
      "Transfer-Encoding: gzip\r\n",
      "Transfer-Encoding: identity\r\n",
      "Transfer-Encoding: \r\n",
      "Transfer-Encoding: xchunked\r\n",
      "Transfer-Encoding: chunked;q=1\r\n",
      "Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n",
      "Transfer-Encoding: chunked, chunked\r\n",
      "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
      "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
      "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
      "Content-Length: 0\r\nTransfer-Encoding: chunked\r\n",
  };
  for (const auto& f : fields) {
    RequestHead h;
    EXPECT_EQ(parse_request(req_with(f), h, {}), Status::bad) << f;
    EXPECT_STRNE(h.error, "");
  }
  EXPECT_EQ(request(req_with("Transfer-Encoding: chunked\r\n", "POST / HTTP/1.0")), Status::bad);
  EXPECT_EQ(request(req_with("Content-Length: 3\r\n", "POST / HTTP/1.0")), Status::complete);
}

TEST(Http1Request, KeepAliveMatrix) {
  struct Case {
    std::string_view start, fields;
    bool keep_alive;
  };
  const std::vector<Case> cases = {
      {"GET / HTTP/1.1", "", true},
      {"GET / HTTP/1.1", "Connection: close\r\n", false},
      {"GET / HTTP/1.1", "Connection: CLOSE\r\n", false},
      {"GET / HTTP/1.1", "Connection: keep-alive\r\n", true},
      {"GET / HTTP/1.1", "Connection: Upgrade ,\tclose \r\n", false},
      {"GET / HTTP/1.1", "Connection: upgrade\r\nConnection: close\r\n", false},
      {"GET / HTTP/1.1", "Connection: closed\r\n", true},
      {"GET / HTTP/1.1", "X-Note: close\r\n", true},
      {"GET / HTTP/1.0", "", false},
      {"GET / HTTP/1.0", "Connection: keep-alive\r\n", true},
      {"GET / HTTP/1.0", "Connection: Keep-Alive\r\n", true},
      {"GET / HTTP/1.0", "Connection: te,  keep-alive \r\n", true},
      {"GET / HTTP/1.0", "Connection: te\r\nConnection: keep-alive\r\n", true},
      {"GET / HTTP/1.0", "Connection: keep-alive, close\r\n", false},
      {"GET / HTTP/1.0", "Connection: close\r\n", false},
      {"GET / HTTP/1.0", "Connection: keep-alives\r\n", false},
  };
  for (const auto& c : cases) {
    RequestHead h;
    ASSERT_EQ(parse_request(req_with(c.fields, c.start), h, {}), Status::complete) << c.start << c.fields;
    EXPECT_EQ(h.keep_alive, c.keep_alive) << c.start << " / " << c.fields;
  }
  const std::string two = req_with("Connection: te\r\nConnection: close\r\n");
  RequestHead h;
  ASSERT_EQ(parse_request(two, h, {}), Status::complete);
  EXPECT_EQ(h.connection, "te");
}

TEST(Http1Request, ExpectContinue) {
  const std::vector<std::pair<std::string, bool>> cases = {
      {"", false},
      {"Expect: 100-continue\r\n", true},
      {"expect: 100-Continue \r\n", true},
      {"Expect: 100-continued\r\n", false},
      {"Expect: something\r\n", false},
  };
  for (const auto& [fields, expect] : cases) {
    RequestHead h;
    ASSERT_EQ(parse_request(req_with(fields), h, {}), Status::complete);
    EXPECT_EQ(h.expect_continue, expect) << fields;
  }
}

TEST(Http1Request, HostCount) {
  RequestHead h;
  ASSERT_EQ(parse_request("GET / HTTP/1.1\r\n\r\n", h, {}), Status::complete);
  EXPECT_EQ(h.host_count, 0u);
  EXPECT_EQ(h.host, "");
  ASSERT_EQ(parse_request("GET / HTTP/1.1\r\nhost: a\r\nX: y\r\nHOST: b\r\n\r\n", h, {}), Status::complete);
  EXPECT_EQ(h.host_count, 2u);
  EXPECT_EQ(h.host, "a");
}

TEST(Http1Request, HeadBytesLimit) {
  const std::string head = req_with("X-Pad: " + std::string(100, 'p') + "\r\n");
  Limits limits;
  limits.max_head_bytes = head.size();
  RequestHead h;
  EXPECT_EQ(parse_request(head, h, limits), Status::complete);
  // A complete head within the limit followed by a large body is fine.
  EXPECT_EQ(parse_request(head + std::string(10000, 'b'), h, limits), Status::complete);
  EXPECT_EQ(h.head_size, head.size());

  limits.max_head_bytes = head.size() - 1;
  EXPECT_EQ(parse_request(head, h, limits), Status::too_large);
  EXPECT_STRNE(h.error, "");

  // Incomplete heads: too large as soon as the buffer outgrows the limit.
  const std::string partial = "GET / HTTP/1.1\r\nX-Pad: " + std::string(200, 'p');
  limits.max_head_bytes = partial.size();
  EXPECT_EQ(parse_request(partial, h, limits), Status::incomplete);
  limits.max_head_bytes = partial.size() - 1;
  EXPECT_EQ(parse_request(partial, h, limits), Status::too_large);
  // Even with no line end at all.
  EXPECT_EQ(request(std::string(Limits{}.max_head_bytes + 1, 'G')), Status::too_large);
  EXPECT_EQ(request(std::string(Limits{}.max_head_bytes, 'G')), Status::incomplete);
}

TEST(Http1Request, FieldCountLimit) {
  Limits limits;
  limits.max_fields = 3;
  RequestHead h;
  EXPECT_EQ(parse_request("GET / HTTP/1.1\r\n" + n_fields(3) + "\r\n", h, limits), Status::complete);
  EXPECT_EQ(h.field_count, 3u);
  EXPECT_EQ(parse_request("GET / HTTP/1.1\r\n" + n_fields(4) + "\r\n", h, limits), Status::too_large);
  EXPECT_STRNE(h.error, "");
  // Known before the head is complete.
  EXPECT_EQ(parse_request("GET / HTTP/1.1\r\n" + n_fields(4), h, limits), Status::too_large);

  // The fixed array caps max_fields.
  limits.max_fields = 1000;
  const std::string full = "GET / HTTP/1.1\r\n" + n_fields(kMaxFields) + "\r\n";
  ASSERT_EQ(parse_request(full, h, limits), Status::complete);
  EXPECT_EQ(h.field_count, kMaxFields);
  EXPECT_EQ(h.fields[kMaxFields - 1].name, "X-99");
  EXPECT_EQ(parse_request("GET / HTTP/1.1\r\n" + n_fields(kMaxFields + 1) + "\r\n", h, limits),
            Status::too_large);
}

TEST(Http1Request, ReusedHeadIsReset) {
  RequestHead h;
  ASSERT_EQ(
      parse_request(req_with("Content-Length: 3\r\nConnection: close\r\nExpect: 100-continue\r\n"), h, {}),
      Status::complete);
  ASSERT_EQ(parse_request(kGet, h, {}), Status::complete);
  EXPECT_EQ(h.body, Body::none);
  EXPECT_EQ(h.content_length, 0u);
  EXPECT_TRUE(h.keep_alive);
  EXPECT_FALSE(h.expect_continue);
  EXPECT_EQ(h.connection, "");
  EXPECT_EQ(h.field_count, 3u);
}

// A ~16 KiB head (many fields and one long line) trickled one byte per read, as a slow client
// sends it: each call goes on where the last one stopped, so the bytes searched stay linear in the
// head's size. Parsing again from byte 0 after each read would search about size²/2 bytes.
TEST(Http1Request, TrickledHeadCostsLinearWork) {
  std::string fields;
  for (int i = 0; i < 80; ++i) fields += "X-Field-" + std::to_string(i) + ": " + std::string(120, 'v') + "\r\n";
  fields += "X-Long: " + std::string(6000, 'l') + "\r\n";
  const std::string head = req_with(fields);
  ASSERT_GT(head.size(), 16000u);
  const Limits limits{32 * 1024, kMaxFields};
  std::string buf;
  buf.reserve(head.size());  // the bytes never move: every call resumes
  RequestHead h;
  buf.push_back(head[0]);
  Status s = parse_request(buf, h, limits);
  for (std::size_t n = 1; n < head.size(); ++n) {
    ASSERT_EQ(s, Status::incomplete) << n;
    buf.push_back(head[n]);
    s = resume_request(buf, h, limits);
  }
  ASSERT_EQ(s, Status::complete);
  EXPECT_EQ(h.head_size, head.size());
  EXPECT_EQ(h.field_count, 82u);
  EXPECT_EQ(h.get("X-Long").size(), 6000u);
  EXPECT_LE(h.progress.scanned, 2 * head.size()) << "bytes searched for a " << head.size() << "-byte head";
}

// The fields are views into the buffer of the last call, also when it moved between calls.
TEST(Http1Request, ResumeAcrossMovingBuffers) {
  const std::string head = req_with("Content-Length: 5\r\n" + n_fields(40));
  RequestHead whole;
  ASSERT_EQ(parse_request(head, whole, {}), Status::complete);
  for (std::size_t step : {1u, 7u, 64u}) {
    std::string buf;  // grows by reallocation: its bytes move now and then
    RequestHead h;
    Status s = Status::incomplete;
    for (std::size_t n = 0; n < head.size(); n += step) {
      buf.append(head, n, step);
      s = n == 0 ? parse_request(buf, h, {}) : resume_request(buf, h, {});
      if (buf.size() < head.size()) ASSERT_EQ(s, Status::incomplete) << step << " " << n;
    }
    ASSERT_EQ(s, Status::complete) << step;
    EXPECT_EQ(h.head_size, whole.head_size);
    EXPECT_EQ(h.content_length, 5u);
    ASSERT_EQ(h.field_count, whole.field_count);
    for (std::size_t i = 0; i < h.field_count; ++i) {
      EXPECT_EQ(h.fields[i].name, whole.fields[i].name);
      EXPECT_EQ(h.fields[i].value, whole.fields[i].value);
      EXPECT_GE(h.fields[i].name.data(), buf.data());
      EXPECT_LE(h.fields[i].value.data() + h.fields[i].value.size(), buf.data() + buf.size());
    }
  }
}

// Resuming after a final status, or on other bytes, is a new head.
TEST(Http1Request, ResumeAfterCompleteStartsOver) {
  RequestHead h;
  const std::string post = req_with("Content-Length: 3\r\n");
  ASSERT_EQ(parse_request(post, h, {}), Status::complete);
  ASSERT_EQ(resume_request(kGet, h, {}), Status::complete);
  EXPECT_EQ(h.method, "GET");
  EXPECT_EQ(h.body, Body::none);
  const std::string part = "POST /a HTTP/1.1\r\nHost: x\r\n";
  ASSERT_EQ(parse_request(part, h, {}), Status::incomplete);
  ASSERT_EQ(resume_request(kGet, h, {}), Status::complete);
  EXPECT_EQ(h.method, "GET");
  EXPECT_EQ(h.field_count, 3u);
}

TEST(Http1Request, NoHeapAllocation) {
  const std::string req = "POST /v1/chat/completions HTTP/1.1\r\n" + n_fields(60) +
                          "Host: gw\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n";
  const std::string res = resp_with("Content-Type: text/event-stream\r\n" + n_fields(30) +
                                    "Transfer-Encoding: gzip, chunked\r\n");
  const std::string body = "5;x=y\r\nhello\r\n0\r\nTrailer: t\r\n\r\n";
  RequestHead rq;
  ResponseHead rs;
  ChunkedDecoder d;
  const std::size_t before = g_allocations;
  const Status s1 = parse_request(req, rq, {});
  const Status s2 = parse_response(res, rs, {}, false);
  std::size_t used = 0;
  bool done = false;
  for (int i = 0; i < 10 && !done; ++i) {
    const auto step = d.next(std::string_view(body).substr(used));
    used += step.consumed;
    done = step.done;
  }
  const std::size_t after = g_allocations;
  EXPECT_EQ(s1, Status::complete);
  EXPECT_EQ(s2, Status::complete);
  EXPECT_TRUE(done);
  EXPECT_EQ(after - before, 0u);
  // The counter does count (the check above is not vacuous).
  int* volatile p = new int(1);
  EXPECT_EQ(g_allocations, after + 1);
  delete p;
}

// ---------------------------------------------------------------------------------------------
// Responses

TEST(Http1Response, ParsesHeadAndKnownFields) {
  const std::string buf = resp_with(
      "Content-Type: application/json\r\nContent-Encoding: gzip\r\nContent-Length: 12\r\n"
      "Connection: keep-alive\r\nX-Extra: 1\r\n");
  const std::string with_body = buf + "{\"ok\":true}\n";  // views point into it: keep it alive
  ResponseHead h;
  ASSERT_EQ(parse_response(with_body, h, {}, false), Status::complete) << h.error;
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.reason, "OK");
  EXPECT_EQ(h.version, 11);
  EXPECT_EQ(h.head_size, buf.size());
  EXPECT_EQ(h.field_count, 5u);
  EXPECT_EQ(h.headers().size(), 5u);
  EXPECT_EQ(h.content_type, "application/json");
  EXPECT_EQ(h.content_encoding, "gzip");
  EXPECT_EQ(h.connection, "keep-alive");
  EXPECT_EQ(h.get("x-extra"), "1");
  EXPECT_EQ(h.body, Body::length);
  EXPECT_EQ(h.content_length, 12u);
  EXPECT_TRUE(h.keep_alive);
}

TEST(Http1Response, ReasonPhrases) {
  const std::vector<std::pair<std::string, std::string_view>> cases = {
      {"HTTP/1.1 404 Not Found", "Not Found"},
      {"HTTP/1.1 200 ", ""},
      {"HTTP/1.1 200", ""},
      {"HTTP/1.1 500 a\tb  c", "a\tb  c"},
      {"HTTP/1.1 200 D\xc3\xa9j\xc3\xa0 vu", "D\xc3\xa9j\xc3\xa0 vu"},
      {"HTTP/1.0 503 Busy", "Busy"},
  };
  for (const auto& [line, reason] : cases) {
    const std::string buf = line + "\r\nContent-Length: 0\r\n\r\n";
    ResponseHead h;
    ASSERT_EQ(parse_response(buf, h, {}, false), Status::complete) << line;
    EXPECT_EQ(h.reason, reason) << line;
  }
}

TEST(Http1Response, RejectsMalformedStatusLines) {
  const std::vector<std::string> lines = {
      "HTTP/1.1 20 OK",     "HTTP/1.1 2000 OK",    "HTTP/1.1 2x0 OK",
      "HTTP/1.1  200 OK",   "HTTP/1.1 200OK",      "HTTP/1.1 200\tOK",
      "HTTP/1.1\t200 OK",   "HTTP/1.2 200 OK",     "HTTP/2 200 OK",
      "http/1.1 200 OK",    " HTTP/1.1 200 OK",    "HTTP/1.1 099 OK",
      "HTTP/1.1 600 Weird", "HTTP/1.1 200 O\x01K", "HTTP/1.1 200 OK\r",
      "HTTP/1.1 200 O\rK",  "HTTP/1.1 -20 OK",     "",
  };
  for (const auto& line : lines) {
    ResponseHead h;
    EXPECT_EQ(parse_response(line + "\r\nContent-Length: 0\r\n\r\n", h, {}, false), Status::bad) << line;
    EXPECT_STRNE(h.error, "");
  }
  // No empty lines are skipped before a status line.
  EXPECT_EQ(response("\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"), Status::bad);
}

TEST(Http1Response, RejectsMalformedFieldsAndLineEnds) {
  const std::vector<std::string> bufs = {
      "HTTP/1.1 200 OK\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 0\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\n",
      "HTTP/1.1 200 OK\r\nContent-Type: a\r\n b\r\nContent-Length: 0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n",
      "HTTP/1.1 200 OK\r\nX: a\rb\r\nContent-Length: 0\r\n\r\n",
  };
  for (const auto& buf : bufs) EXPECT_EQ(response(buf), Status::bad) << testing::PrintToString(buf);
}

TEST(Http1Response, StatusesWithoutBody) {
  for (std::string_view start :
       {"HTTP/1.1 204 No Content", "HTTP/1.1 304 Not Modified", "HTTP/1.1 100 Continue",
        "HTTP/1.1 101 Switching Protocols", "HTTP/1.1 103 Early Hints"}) {
    for (std::string_view fields : {"", "Content-Length: 10\r\n", "Transfer-Encoding: chunked\r\n"}) {
      ResponseHead h;
      ASSERT_EQ(parse_response(resp_with(fields, start), h, {}, false), Status::complete) << start << fields;
      EXPECT_EQ(h.body, Body::none) << start << " / " << fields;
      EXPECT_TRUE(h.keep_alive) << start << " / " << fields;
    }
  }
  // A 200 with a body in its headers is framed normally (the table above is not vacuous).
  ResponseHead h;
  ASSERT_EQ(parse_response(resp_with("Content-Length: 10\r\n"), h, {}, false), Status::complete);
  EXPECT_EQ(h.body, Body::length);
}

TEST(Http1Response, HeadRequestHasNoBody) {
  ResponseHead h;
  ASSERT_EQ(parse_response(resp_with("Content-Length: 1234\r\n"), h, {}, true), Status::complete);
  EXPECT_EQ(h.body, Body::none);
  EXPECT_EQ(h.content_length, 1234u);  // the size a GET would have had
  EXPECT_TRUE(h.keep_alive);
  ASSERT_EQ(parse_response(resp_with("Transfer-Encoding: chunked\r\n"), h, {}, true), Status::complete);
  EXPECT_EQ(h.body, Body::none);
  EXPECT_TRUE(h.keep_alive);
  // Neither length nor chunked: still no body, and the connection stays usable.
  ASSERT_EQ(parse_response(resp_with(""), h, {}, true), Status::complete);
  EXPECT_EQ(h.body, Body::none);
  EXPECT_TRUE(h.keep_alive);
  // Framing errors are still errors.
  EXPECT_EQ(parse_response(resp_with("Content-Length: x\r\n"), h, {}, true), Status::bad);
}

TEST(Http1Response, ContinueThenFinalResponse) {
  const std::string cont = "HTTP/1.1 100 Continue\r\n\r\n";
  const std::string final_head = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n";
  const std::string buf = cont + final_head + "ok";
  ResponseHead h;
  ASSERT_EQ(parse_response(buf, h, {}, false), Status::complete);
  EXPECT_EQ(h.status, 100);
  EXPECT_EQ(h.reason, "Continue");
  EXPECT_EQ(h.body, Body::none);
  EXPECT_EQ(h.head_size, cont.size());
  ASSERT_EQ(parse_response(std::string_view(buf).substr(h.head_size), h, {}, false), Status::complete);
  EXPECT_EQ(h.status, 200);
  EXPECT_EQ(h.body, Body::length);
  EXPECT_EQ(h.content_length, 2u);
  EXPECT_EQ(h.head_size, final_head.size());
}

TEST(Http1Response, Framing) {
  struct Case {
    std::string_view fields;
    Body body;
    bool keep_alive;
  };
  const std::vector<Case> cases = {
      {"Transfer-Encoding: chunked\r\n", Body::chunked, true},
      {"Transfer-Encoding: gzip, chunked\r\n", Body::chunked, true},
      {"Transfer-Encoding: gzip\r\nTransfer-Encoding: Chunked\r\n", Body::chunked, true},
      // RFC 9112 §6.3 rule 4: chunked not last => read until close.
      {"Transfer-Encoding: gzip\r\n", Body::until_close, false},
      {"Transfer-Encoding: chunked, gzip\r\n", Body::until_close, false},
      // CL + TE: chunked wins, the connection is not reused.
      {"Content-Length: 10\r\nTransfer-Encoding: chunked\r\n", Body::chunked, false},
      {"Transfer-Encoding: chunked\r\nContent-Length: 10\r\n", Body::chunked, false},
      {"Content-Length: 10\r\n", Body::length, true},
      {"Content-Length: 10, 10\r\nContent-Length: 10\r\n", Body::length, true},
      {"Content-Length: 0\r\n", Body::length, true},
      // No framing: the body ends when the server closes.
      {"", Body::until_close, false},
      {"Connection: keep-alive\r\n", Body::until_close, false},
  };
  for (const auto& c : cases) {
    ResponseHead h;
    ASSERT_EQ(parse_response(resp_with(c.fields), h, {}, false), Status::complete) << c.fields << h.error;
    EXPECT_EQ(h.body, c.body) << c.fields;
    EXPECT_EQ(h.keep_alive, c.keep_alive) << c.fields;
    if (c.body == Body::chunked) {
      EXPECT_EQ(h.content_length, 0u) << c.fields;  // CL ignored
    }
  }
}

TEST(Http1Response, FramingRejected) {
  const std::vector<std::string> fields = {
      "Content-Length: 10\r\nContent-Length: 11\r\n",
      "Content-Length: 10, 11\r\n",
      "Content-Length: -1\r\n",
      "Content-Length: 1e3\r\n",
      "Content-Length: \r\n",
      "Content-Length: 1000000000000000000\r\n",
      "Transfer-Encoding: chunked, chunked\r\n",
      "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n",
  };
  for (const auto& f : fields) {
    ResponseHead h;
    EXPECT_EQ(parse_response(resp_with(f), h, {}, false), Status::bad) << f;
    EXPECT_STRNE(h.error, "");
    EXPECT_EQ(parse_response(resp_with(f, "HTTP/1.1 204 No Content"), h, {}, false), Status::bad) << f;
  }
  // HTTP/1.0 has no Transfer-Encoding (RFC 9112 §6.1).
  EXPECT_EQ(response(resp_with("Transfer-Encoding: chunked\r\n", "HTTP/1.0 200 OK")), Status::bad);
}

TEST(Http1Response, KeepAliveMatrix) {
  struct Case {
    std::string_view start, fields;
    bool keep_alive;
  };
  const std::vector<Case> cases = {
      {"HTTP/1.1 200 OK", "Content-Length: 1\r\n", true},
      {"HTTP/1.1 200 OK", "Content-Length: 1\r\nConnection: close\r\n", false},
      {"HTTP/1.1 200 OK", "Content-Length: 1\r\nConnection: foo, Close\r\n", false},
      {"HTTP/1.1 200 OK", "Transfer-Encoding: chunked\r\nConnection: close\r\n", false},
      {"HTTP/1.0 200 OK", "Content-Length: 1\r\n", false},
      {"HTTP/1.0 200 OK", "Content-Length: 1\r\nConnection: keep-alive\r\n", true},
      {"HTTP/1.0 200 OK", "Content-Length: 1\r\nConnection: keep-alive\r\nConnection: close\r\n", false},
      {"HTTP/1.0 200 OK", "Connection: keep-alive\r\n", false},  // until_close
      {"HTTP/1.0 204 No Content", "Connection: keep-alive\r\n", true},
      {"HTTP/1.0 204 No Content", "", false},
  };
  for (const auto& c : cases) {
    ResponseHead h;
    ASSERT_EQ(parse_response(resp_with(c.fields, c.start), h, {}, false), Status::complete) << c.fields;
    EXPECT_EQ(h.keep_alive, c.keep_alive) << c.start << " / " << c.fields;
  }
}

TEST(Http1Response, ByteByByte) {
  const std::string head = resp_with("Transfer-Encoding: chunked\r\n");
  const std::string buf = head + "5\r\nhello\r\n0\r\n\r\n";
  ResponseHead h;
  for (std::size_t n = 0; n < head.size(); ++n) {
    ASSERT_EQ(parse_response(std::string_view(buf).substr(0, n), h, {}, false), Status::incomplete) << n;
  }
  for (std::size_t n = head.size(); n <= buf.size(); ++n) {
    ASSERT_EQ(parse_response(std::string_view(buf).substr(0, n), h, {}, false), Status::complete) << n;
    EXPECT_EQ(h.head_size, head.size());
    EXPECT_EQ(h.body, Body::chunked);
  }
}

TEST(Http1Response, Limits) {
  Limits limits;
  limits.max_head_bytes = 64;
  ResponseHead h;
  const std::string big = resp_with("X-Pad: " + std::string(64, 'p') + "\r\n");
  EXPECT_EQ(parse_response(big, h, limits, false), Status::too_large);
  EXPECT_EQ(parse_response(big.substr(0, 65), h, limits, false), Status::too_large);
  EXPECT_EQ(parse_response(big.substr(0, 64), h, limits, false), Status::incomplete);
  limits = Limits{};
  limits.max_fields = 2;
  EXPECT_EQ(parse_response(resp_with(n_fields(2)), h, limits, false), Status::complete);
  EXPECT_EQ(parse_response(resp_with(n_fields(3)), h, limits, false), Status::too_large);
}

// ---------------------------------------------------------------------------------------------
// Chunked bodies

struct Decoded {
  std::string data;
  std::size_t consumed = 0;
  bool done = false;
  bool bad = false;
};

// Feeds `pieces` as successive reads, keeping the unconsumed bytes the way a caller would.
Decoded decode(const std::vector<std::string_view>& pieces) {
  ChunkedDecoder d;
  Decoded r;
  std::string pending;
  for (std::string_view piece : pieces) {
    pending.append(piece);
    for (;;) {
      const auto step = d.next(pending);
      if (step.consumed == 0 && !step.data.empty()) ADD_FAILURE() << "data without consuming it";
      r.data.append(step.data);
      r.consumed += step.consumed;
      pending.erase(0, step.consumed);
      if (step.bad || step.done) {
        r.bad = step.bad;
        r.done = step.done;
        if (d.done() != step.done) ADD_FAILURE() << "done() disagrees with the step";
        return r;
      }
      if (step.consumed == 0) break;
    }
  }
  return r;
}

Decoded decode(std::string_view whole) { return decode(std::vector<std::string_view>{whole}); }

// Chunk extensions, data containing CR and LF, a zero-padded size, upper-case hex and trailers.
const std::string kChunked =
    "5\r\nhello\r\n"
    "1A;name=value;q=\"x y\"\r\nabcdefghijklmnopqrstuvwxyz\r\n"
    "4 ;ext\r\n\r\n0\r\r\n"
    "0001\r\n!\r\n"
    "0;end\r\nX-Trailer: 1\r\nChecksum:abc\r\n\r\n";
const std::string kChunkedData = "helloabcdefghijklmnopqrstuvwxyz\r\n0\r!";

TEST(Http1Chunked, DecodesWhole) {
  const Decoded r = decode(kChunked);
  EXPECT_TRUE(r.done);
  EXPECT_FALSE(r.bad);
  EXPECT_EQ(r.data, kChunkedData);
  EXPECT_EQ(r.consumed, kChunked.size());
}

TEST(Http1Chunked, EverySplitPosition) {
  const std::string_view s = kChunked;
  for (std::size_t i = 0; i <= s.size(); ++i) {
    const Decoded r = decode({s.substr(0, i), s.substr(i)});
    ASSERT_TRUE(r.done) << i;
    EXPECT_EQ(r.data, kChunkedData) << i;
    EXPECT_EQ(r.consumed, s.size()) << i;
  }
}

TEST(Http1Chunked, EveryPairOfSplitPositions) {
  const std::string_view s = kChunked;
  for (std::size_t i = 0; i <= s.size(); ++i) {
    for (std::size_t j = i; j <= s.size(); ++j) {
      const Decoded r = decode({s.substr(0, i), s.substr(i, j - i), s.substr(j)});
      ASSERT_TRUE(r.done) << i << "," << j;
      ASSERT_EQ(r.data, kChunkedData) << i << "," << j;
    }
  }
}

TEST(Http1Chunked, ByteByByte) {
  std::vector<std::string_view> bytes;
  for (std::size_t i = 0; i < kChunked.size(); ++i) bytes.push_back(std::string_view(kChunked).substr(i, 1));
  const Decoded r = decode(bytes);
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.data, kChunkedData);
  EXPECT_EQ(r.consumed, kChunked.size());
}

TEST(Http1Chunked, StopsAtTheEndOfTheBody) {
  const std::string buf = kChunked + "GET / HTTP/1.1\r\n\r\n";
  for (std::size_t i = 0; i <= buf.size(); ++i) {
    const Decoded r = decode({std::string_view(buf).substr(0, i), std::string_view(buf).substr(i)});
    ASSERT_TRUE(r.done) << i;
    EXPECT_EQ(r.consumed, kChunked.size()) << i;
  }
}

TEST(Http1Chunked, OnePieceOfDataPerStep) {
  ChunkedDecoder d;
  const std::string_view in = "5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n";
  auto step = d.next(in);
  EXPECT_EQ(step.data, "hello");
  EXPECT_EQ(step.consumed, 8u);
  step = d.next(in.substr(8));
  EXPECT_EQ(step.data, "world");
  EXPECT_EQ(step.consumed, 10u);
  step = d.next(in.substr(18));
  EXPECT_EQ(step.data, "");
  EXPECT_EQ(step.consumed, 7u);
  EXPECT_TRUE(step.done);
  EXPECT_TRUE(d.done());
}

TEST(Http1Chunked, PartialChunkData) {
  ChunkedDecoder d;
  auto step = d.next("a\r\n0123");
  EXPECT_EQ(step.consumed, 7u);
  EXPECT_EQ(step.data, "0123");
  step = d.next("");
  EXPECT_EQ(step.consumed, 0u);
  EXPECT_FALSE(step.done || step.bad);
  step = d.next("456789\r");
  EXPECT_EQ(step.consumed, 6u);
  EXPECT_EQ(step.data, "456789");
  step = d.next("\r");  // the CR after data alone: wait for the LF
  EXPECT_EQ(step.consumed, 0u);
  EXPECT_FALSE(step.bad);
  step = d.next("\r\n0\r\n\r\n");
  EXPECT_EQ(step.consumed, 7u);
  EXPECT_TRUE(step.done);
}

TEST(Http1Chunked, LargeSizes) {
  Decoded r = decode("000000000000000a\r\n0123456789\r\n0\r\n\r\n");  // 16 digits
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.data, "0123456789");
  ChunkedDecoder d;
  const auto step = d.next("ffffffffffffffff\r\nabc");
  EXPECT_FALSE(step.bad);
  EXPECT_EQ(step.data, "abc");
  EXPECT_EQ(step.consumed, 21u);
  EXPECT_TRUE(decode("00000000000000005\r\nhello\r\n0\r\n\r\n").bad);  // 17 digits
  EXPECT_TRUE(decode("10000000000000000\r\n").bad);
}

TEST(Http1Chunked, RejectsMalformedFraming) {
  const std::vector<std::string> bodies = {
      "x\r\n",
      "\r\n",
      "-5\r\nhello\r\n0\r\n\r\n",
      "+5\r\nhello\r\n0\r\n\r\n",
      "0x5\r\nhello\r\n0\r\n\r\n",
      " 5\r\nhello\r\n0\r\n\r\n",
      "5 \r\nhello\r\n0\r\n\r\n",
      "5 5\r\nhello\r\n0\r\n\r\n",
      ";ext\r\nhello\r\n0\r\n\r\n",
      "5\nhello\r\n0\r\n\r\n",
      "5\r\r\nhello\r\n0\r\n\r\n",
      "5;a\x01\r\nhello\r\n0\r\n\r\n",
      "5;a\rb\r\nhello\r\n0\r\n\r\n",
      "5\r\nhelloX\r\n0\r\n\r\n",
      "5\r\nhello\n0\r\n\r\n",
      "5\r\nhello\r\r\n0\r\n\r\n",
      "5\r\nhelloX\n0\r\n\r\n",
      "5\r\nhello\rX0\r\n\r\n",
      "5\r\nhello0\r\n\r\n",
      "5\r\nhello\r\n0\n\r\n",
      "0\r\n\n",
      "0\r\nX: y\n\r\n",
      "0\r\n X: folded\r\n\r\n",
      "0\r\nX : y\r\n\r\n",
      "0\r\nNoColon\r\n\r\n",
      "0\r\nX: a\x01\r\n\r\n",
      "0\r\n\r\r\n",
  };
  for (const auto& b : bodies) {
    // However the bytes arrive.
    for (std::size_t i = 0; i <= b.size(); ++i) {
      const Decoded r = decode({std::string_view(b).substr(0, i), std::string_view(b).substr(i)});
      EXPECT_TRUE(r.bad) << testing::PrintToString(b) << " split at " << i;
      EXPECT_FALSE(r.done);
    }
  }
}

TEST(Http1Chunked, SizeLineCap) {
  const std::size_t cap = ChunkedDecoder::kMaxSizeLine;
  const std::string ext = "1;" + std::string(cap - 4, 'x');  // with CRLF: exactly the cap
  Decoded r = decode(ext + "\r\nz\r\n0\r\n\r\n");
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.data, "z");
  EXPECT_TRUE(decode(ext + "x\r\nz\r\n0\r\n\r\n").bad);

  // Waiting for the CRLF is bounded.
  ChunkedDecoder d;
  auto step = d.next(std::string(cap - 1, '1').replace(1, 1, ";"));
  EXPECT_EQ(step.consumed, 0u);
  EXPECT_FALSE(step.bad);
  step = d.next(std::string(cap, '1').replace(1, 1, ";"));
  EXPECT_TRUE(step.bad);
}

TEST(Http1Chunked, TrailerCap) {
  const std::size_t cap = ChunkedDecoder::kMaxTrailerBytes;
  // "X: <pad>\r\n" + "\r\n" is exactly the cap.
  const std::string pad(cap - 7, 'p');
  Decoded r = decode("0\r\nX: " + pad + "\r\n\r\n");
  EXPECT_TRUE(r.done);
  EXPECT_TRUE(decode("0\r\nX: " + pad + "p\r\n\r\n").bad);
  // Many small trailer lines add up.
  std::string many = "0\r\n";
  for (std::size_t i = 0; i < cap / 8 + 1; ++i) many += "T: 1234\r\n";
  EXPECT_TRUE(decode(many + "\r\n").bad);
  // A trailer line that never ends.
  ChunkedDecoder d;
  EXPECT_FALSE(d.next("0\r\nX: " + std::string(cap - 10, 'p')).bad);
  EXPECT_TRUE(d.next("X: " + std::string(cap, 'p')).bad);
}

TEST(Http1Chunked, DoneAndBadAreStickyUntilReset) {
  ChunkedDecoder d;
  auto step = d.next("0\r\n\r\n");
  EXPECT_TRUE(step.done);
  EXPECT_EQ(step.consumed, 5u);
  step = d.next("5\r\nhello\r\n");
  EXPECT_TRUE(step.done);
  EXPECT_EQ(step.consumed, 0u);
  EXPECT_TRUE(step.data.empty());

  d.reset();
  EXPECT_FALSE(d.done());
  step = d.next("5\r\nhello\r\n");
  EXPECT_EQ(step.data, "hello");

  step = d.next("\r\nzz\r\n");
  EXPECT_TRUE(step.bad);
  step = d.next("0\r\n\r\n");
  EXPECT_TRUE(step.bad);
  EXPECT_EQ(step.consumed, 0u);
  d.reset();
  step = d.next("0\r\n\r\n");
  EXPECT_TRUE(step.done);
}

}  // namespace
