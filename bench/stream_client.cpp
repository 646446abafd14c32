// Streaming benchmark for workload 3 of `make bench`: an SSE origin and a load client in one file.
//
// Why not the sim and a Python client: the delay a proxy adds to each chunk is arrival time minus
// the time the origin wrote the chunk, and neither the sim (its chunks carry no emit time) nor a
// Python asyncio client (a 1000-stream event loop on a shared 2-core machine adds milliseconds of
// its own scheduling delay) can measure that at microsecond scale. So:
//
//   stream_client origin --listen 127.0.0.1:0 [--interval-ms 50] [--ttft-ms 50] [--chunks 120]
//     An OpenAI-compatible endpoint that answers every POST with a chunked text/event-stream of
//     `chat.completion.chunk` events shaped like the sim's (~230 bytes each), one every interval,
//     `max_tokens` of them (from the request body, else --chunks), then `data: [DONE]`. The
//     content of each chunk is "t<ns> ": CLOCK_MONOTONIC (system-wide on Linux) read just before
//     the chunk's write(2). It prints "origin listening on HOST:PORT".
//
//   stream_client run --target HOST:PORT --streams N [--ramp-ms 1000] [--max-tokens 120]
//                     [--model m-s] [--rss-pids 1,2,3] [--timeout-s 120]
//     Opens N connections spread over the ramp, one streamed chat completion each, decodes the
//     chunked framing and the SSE lines, and for each chunk records arrival − emit time. Every
//     50 ms it reads VmRSS of --rss-pids; the sample taken at the highest number of streams
//     active at once (first chunk received, [DONE] not yet) gives the memory per stream. Prints
//     one JSON object.
//
// Direct (client → origin) and proxied (client → proxy → origin) runs measure the same thing, so
// the difference of their percentiles is what the proxy adds: its own work plus one more
// loopback hop, which every proxy pays alike.
#include <boost/asio.hpp>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <time.h>

namespace asio = boost::asio;
using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;

namespace {

std::int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

[[noreturn]] void die(const std::string& msg) {
  std::cerr << "stream_client: " << msg << "\n";
  std::exit(2);
}

tcp::endpoint parse_endpoint(const std::string& s) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos) die("expected HOST:PORT, got " + s);
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(s.substr(0, colon), ec);
  if (ec) die("bad address in " + s);
  return {addr, static_cast<unsigned short>(std::stoi(s.substr(colon + 1)))};
}

// --key value options after the subcommand.
std::map<std::string, std::string> parse_options(int argc, char** argv, int first) {
  std::map<std::string, std::string> out;
  for (int i = first; i < argc; ++i) {
    std::string k = argv[i];
    if (k.rfind("--", 0) != 0 || i + 1 >= argc) die("bad option " + k + " (options are --key value)");
    out[k.substr(2)] = argv[++i];
  }
  return out;
}

std::string opt(const std::map<std::string, std::string>& o, const std::string& k, const std::string& def) {
  auto it = o.find(k);
  return it == o.end() ? def : it->second;
}

bool iequals_prefix(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size()) return false;
  for (std::size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[i])) != std::tolower(static_cast<unsigned char>(prefix[i])))
      return false;
  return true;
}

// ---------------------------------------------------------------------------------------------
// Origin

struct OriginOptions {
  std::chrono::milliseconds interval{50};
  std::chrono::milliseconds ttft{50};
  int chunks = 120;
};

std::string sse_chunk(std::uint64_t id, std::string_view content, bool first) {
  std::string event = "data: {\"id\":\"chatcmpl-bench-" + std::to_string(id) +
                      "\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,\"model\":\"m-s\","
                      "\"system_fingerprint\":\"origin\",\"choices\":[{\"index\":0,\"delta\":{" +
                      (first ? std::string("\"role\":\"assistant\",") : std::string()) + "\"content\":\"" +
                      std::string(content) + "\"},\"logprobs\":null,\"finish_reason\":null}]}\n\n";
  char size[16];
  int n = std::snprintf(size, sizeof size, "%zx\r\n", event.size());
  return std::string(size, n) + event + "\r\n";
}

awaitable<void> origin_session(tcp::socket sock, OriginOptions o, std::uint64_t& next_id) {
  sock.set_option(tcp::no_delay(true));
  std::string in;
  asio::steady_timer timer(sock.get_executor());
  try {
    for (;;) {
      std::size_t head_end = co_await asio::async_read_until(sock, asio::dynamic_buffer(in), "\r\n\r\n",
                                                             use_awaitable);
      std::string_view head(in.data(), head_end);
      std::size_t content_length = 0;
      for (std::size_t pos = head.find("\r\n"); pos != std::string_view::npos && pos + 2 < head.size();) {
        auto next = head.find("\r\n", pos + 2);
        auto line = head.substr(pos + 2, next - pos - 2);
        if (iequals_prefix(line, "content-length:")) {
          auto v = line.substr(15);
          while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
          std::from_chars(v.data(), v.data() + v.size(), content_length);
        }
        pos = next;
      }
      if (in.size() < head_end + content_length)
        co_await asio::async_read(sock, asio::dynamic_buffer(in),
                                  asio::transfer_exactly(head_end + content_length - in.size()), use_awaitable);
      std::string_view body(in.data() + head_end, content_length);
      int chunks = o.chunks;
      if (auto p = body.find("\"max_tokens\":"); p != std::string_view::npos) {
        auto v = body.substr(p + 13);
        while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
        std::from_chars(v.data(), v.data() + v.size(), chunks);
      }
      in.erase(0, head_end + content_length);
      const std::uint64_t id = ++next_id;

      static constexpr std::string_view kHead =
          "HTTP/1.1 200 OK\r\nServer: bench-origin\r\nContent-Type: text/event-stream\r\n"
          "Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n";
      co_await asio::async_write(sock, asio::buffer(kHead), use_awaitable);
      // Absolute deadlines: the emit schedule does not drift with the time each write takes.
      const auto start = std::chrono::steady_clock::now() + o.ttft;
      for (int i = 0; i < chunks; ++i) {
        timer.expires_at(start + i * o.interval);
        co_await timer.async_wait(use_awaitable);
        // Stamped just before the write; formatting the rest takes about a microsecond, the same
        // on every path measured.
        std::string content = "t" + std::to_string(now_ns()) + " ";
        std::string chunk = sse_chunk(id, content, i == 0);
        co_await asio::async_write(sock, asio::buffer(chunk), use_awaitable);
      }
      static constexpr std::string_view kDone = "e\r\ndata: [DONE]\n\n\r\n0\r\n\r\n";
      co_await asio::async_write(sock, asio::buffer(kDone), use_awaitable);
    }
  } catch (const std::exception&) {
    // the peer closed: normal end of a keep-alive connection
  }
}

int run_origin(const std::map<std::string, std::string>& o) {
  OriginOptions oo;
  oo.interval = std::chrono::milliseconds(std::stoi(opt(o, "interval-ms", "50")));
  oo.ttft = std::chrono::milliseconds(std::stoi(opt(o, "ttft-ms", opt(o, "interval-ms", "50"))));
  oo.chunks = std::stoi(opt(o, "chunks", "120"));
  asio::io_context io(1);
  tcp::acceptor acceptor(io);
  auto ep = parse_endpoint(opt(o, "listen", "127.0.0.1:0"));
  acceptor.open(ep.protocol());
  acceptor.set_option(tcp::acceptor::reuse_address(true));
  acceptor.bind(ep);
  acceptor.listen(4096);
  auto bound = acceptor.local_endpoint();
  std::cout << "origin listening on " << bound.address().to_string() << ":" << bound.port() << std::endl;
  std::uint64_t next_id = 0;
  asio::co_spawn(
      io,
      [&]() -> awaitable<void> {
        for (;;) {
          auto sock = co_await acceptor.async_accept(use_awaitable);
          asio::co_spawn(io, origin_session(std::move(sock), oo, next_id), asio::detached);
        }
      },
      asio::detached);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](auto, int) { io.stop(); });
  io.run();
  return 0;
}

// ---------------------------------------------------------------------------------------------
// Client

struct ClientStats {
  std::vector<std::int64_t> delays_ns;  // arrival − emit, every chunk of every stream
  std::vector<std::int64_t> by_decile[10];  // the same, by position of the chunk in its stream
  std::vector<std::int64_t> ttft_ns;    // first chunk − request written
  int ok = 0;
  int failed = 0;
  int active = 0;  // first chunk received, [DONE] not yet
  int finished = 0;
  std::map<std::string, int> errors;
};

// Incremental decoder of an HTTP/1.1 response carrying SSE: header, then chunked (or
// Content-Length / close-delimited) body, then `data:` lines.
class SseResponse {
 public:
  enum class State { head, size, data, data_crlf, trailer, done };

  // Feeds bytes; calls on_data(line) for every complete `data: ...` line. Returns an error text or
  // "" when all is well.
  template <class F>
  std::string feed(std::string_view bytes, F&& on_data) {
    buf_.append(bytes);
    std::size_t pos = 0;
    for (;;) {
      if (state_ == State::head) {
        auto end = buf_.find("\r\n\r\n", pos);
        if (end == std::string::npos) break;
        std::string_view head(buf_.data() + pos, end + 4 - pos);
        if (head.substr(0, 12) != "HTTP/1.1 200" && head.substr(0, 12) != "HTTP/1.0 200")
          return "status: " + std::string(head.substr(0, head.find("\r\n")));
        chunked_ = false;
        remaining_ = -1;
        for (std::size_t p = head.find("\r\n"); p != std::string_view::npos && p + 2 < head.size();) {
          auto next = head.find("\r\n", p + 2);
          auto line = head.substr(p + 2, next - p - 2);
          if (iequals_prefix(line, "transfer-encoding:") && line.find("chunked") != std::string_view::npos)
            chunked_ = true;
          if (iequals_prefix(line, "content-length:")) {
            auto v = line.substr(15);
            while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
            long long n = 0;
            std::from_chars(v.data(), v.data() + v.size(), n);
            remaining_ = n;
          }
          p = next;
        }
        pos = end + 4;
        state_ = chunked_ ? State::size : State::data;
        continue;
      }
      if (state_ == State::size) {
        auto end = buf_.find("\r\n", pos);
        if (end == std::string::npos) break;
        long long n = 0;
        auto r = std::from_chars(buf_.data() + pos, buf_.data() + end, n, 16);
        if (r.ec != std::errc{}) return "bad chunk size";
        pos = end + 2;
        remaining_ = n;
        state_ = n == 0 ? State::trailer : State::data;
        continue;
      }
      if (state_ == State::data) {
        std::size_t avail = buf_.size() - pos;
        std::size_t take = remaining_ < 0 ? avail : std::min<std::size_t>(avail, remaining_);
        if (take == 0 && remaining_ != 0) break;
        lines(std::string_view(buf_.data() + pos, take), on_data);
        pos += take;
        if (remaining_ >= 0) {
          remaining_ -= static_cast<long long>(take);
          if (remaining_ == 0) {
            if (chunked_) {
              state_ = State::data_crlf;
            } else {
              state_ = State::done;
            }
          }
        }
        if (remaining_ != 0) break;
        continue;
      }
      if (state_ == State::data_crlf) {
        if (buf_.size() - pos < 2) break;
        pos += 2;
        state_ = State::size;
        continue;
      }
      if (state_ == State::trailer) {
        auto end = buf_.find("\r\n", pos);
        if (end == std::string::npos) break;
        bool empty = end == pos;
        pos = end + 2;
        if (empty) state_ = State::done;
        continue;
      }
      break;  // done
    }
    buf_.erase(0, pos);
    return "";
  }

  bool done() const { return state_ == State::done; }

 private:
  template <class F>
  void lines(std::string_view data, F& on_data) {
    line_.append(data);
    std::size_t start = 0;
    for (;;) {
      auto nl = line_.find('\n', start);
      if (nl == std::string::npos) break;
      std::string_view line(line_.data() + start, nl - start);
      if (line.substr(0, 6) == "data: ") on_data(line.substr(6));
      start = nl + 1;
    }
    line_.erase(0, start);
  }

  State state_ = State::head;
  bool chunked_ = false;
  long long remaining_ = -1;
  std::string buf_;
  std::string line_;
};

struct ClientOptions {
  tcp::endpoint target;
  std::string path = "/v1/chat/completions";
  std::string model = "m-s";
  int max_tokens = 120;
};

awaitable<void> one_stream(ClientOptions o, std::chrono::steady_clock::time_point start_at, ClientStats& st) {
  auto ex = co_await asio::this_coro::executor;
  asio::steady_timer t(ex);
  t.expires_at(start_at);
  co_await t.async_wait(use_awaitable);
  bool counted_active = false;
  int chunks = 0;
  bool got_done = false;
  try {
    tcp::socket sock(ex);
    co_await sock.async_connect(o.target, use_awaitable);
    sock.set_option(tcp::no_delay(true));
    std::string body = "{\"model\":\"" + o.model +
                       "\",\"stream\":true,\"max_tokens\":" + std::to_string(o.max_tokens) +
                       ",\"messages\":[{\"role\":\"user\",\"content\":\"Tell me a long story.\"}]}";
    std::string req = "POST " + o.path + " HTTP/1.1\r\nHost: " + o.target.address().to_string() + ":" +
                      std::to_string(o.target.port()) +
                      "\r\nContent-Type: application/json\r\nAccept: text/event-stream\r\nContent-Length: " +
                      std::to_string(body.size()) + "\r\n\r\n" + body;
    co_await asio::async_write(sock, asio::buffer(req), use_awaitable);
    const std::int64_t sent = now_ns();
    SseResponse resp;
    std::vector<char> buf(16384);
    std::string err;
    while (!resp.done()) {
      std::size_t n = co_await sock.async_read_some(asio::buffer(buf), use_awaitable);
      const std::int64_t arrival = now_ns();
      err = resp.feed(std::string_view(buf.data(), n), [&](std::string_view data) {
        if (data == "[DONE]") {
          got_done = true;
          return;
        }
        auto p = data.find("\"content\":\"t");
        if (p == std::string_view::npos) return;  // e.g. a usage chunk a gateway asked for
        std::int64_t emit = 0;
        auto v = data.substr(p + 12);
        std::from_chars(v.data(), v.data() + v.size(), emit);
        st.delays_ns.push_back(arrival - emit);
        st.by_decile[std::min(9, chunks * 10 / std::max(1, o.max_tokens))].push_back(arrival - emit);
        if (chunks++ == 0) {
          st.ttft_ns.push_back(arrival - sent);
          ++st.active;
          counted_active = true;
        }
      });
      if (!err.empty()) break;
    }
    if (counted_active) --st.active;
    counted_active = false;
    if (!err.empty()) {
      ++st.errors[err];
      ++st.failed;
    } else if (!got_done || chunks != o.max_tokens) {
      ++st.errors["incomplete stream: " + std::to_string(chunks) + " chunks"];
      ++st.failed;
    } else {
      ++st.ok;
    }
  } catch (const std::exception& e) {
    if (counted_active) --st.active;
    ++st.errors[std::string("io: ") + e.what()];
    ++st.failed;
  }
  ++st.finished;
}

long rss_kb(const std::vector<int>& pids) {
  long total = 0;
  for (int pid : pids) {
    std::ifstream f("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(f, line)) {
      if (line.rfind("VmRSS:", 0) == 0) {
        total += std::strtol(line.c_str() + 6, nullptr, 10);
        break;
      }
    }
  }
  return total;
}

double percentile(std::vector<std::int64_t>& v, double p) {
  if (v.empty()) return 0;
  std::size_t k = static_cast<std::size_t>(p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
  std::nth_element(v.begin(), v.begin() + static_cast<std::ptrdiff_t>(k), v.end());
  return static_cast<double>(v[k]);
}

std::string json_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) < 0x20) continue;
    out += c;
  }
  return out;
}

int run_client(const std::map<std::string, std::string>& o) {
  ClientOptions co;
  co.target = parse_endpoint(opt(o, "target", ""));
  co.path = opt(o, "path", co.path);
  co.model = opt(o, "model", co.model);
  co.max_tokens = std::stoi(opt(o, "max-tokens", "120"));
  const int streams = std::stoi(opt(o, "streams", "1000"));
  const auto ramp = std::chrono::milliseconds(std::stoi(opt(o, "ramp-ms", "1000")));
  const auto timeout = std::chrono::seconds(std::stoi(opt(o, "timeout-s", "120")));
  std::vector<int> pids;
  {
    std::stringstream ss(opt(o, "rss-pids", ""));
    std::string item;
    while (std::getline(ss, item, ','))
      if (!item.empty()) pids.push_back(std::stoi(item));
  }

  asio::io_context io(1);
  ClientStats st;
  st.delays_ns.reserve(static_cast<std::size_t>(streams) * static_cast<std::size_t>(co.max_tokens));
  const long rss_before = rss_kb(pids);
  long best_rss = rss_before;
  int best_active = 0;

  const auto t0 = std::chrono::steady_clock::now() + std::chrono::milliseconds(20);
  for (int i = 0; i < streams; ++i) {
    auto at = t0 + ramp * i / std::max(1, streams);
    asio::co_spawn(io, one_stream(co, at, st), asio::detached);
  }
  bool timed_out = false;
  asio::co_spawn(
      io,
      [&]() -> awaitable<void> {
        asio::steady_timer tick(io);
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (st.finished < streams) {
          tick.expires_after(std::chrono::milliseconds(50));
          co_await tick.async_wait(use_awaitable);
          if (!pids.empty()) {
            const int active = st.active;
            if (active > best_active) {
              best_active = active;
              best_rss = rss_kb(pids);
            } else if (active == best_active && active > 0) {
              best_rss = std::max(best_rss, rss_kb(pids));
            }
          }
          if (std::chrono::steady_clock::now() > deadline) {
            timed_out = true;
            io.stop();
          }
        }
      },
      asio::detached);
  io.run();

  auto& d = st.delays_ns;
  const double us = 1000.0;
  std::ostringstream out;
  out.setf(std::ios::fixed);
  out.precision(1);
  out << "{\"streams\":" << streams << ",\"ok\":" << st.ok << ",\"failed\":" << (streams - st.ok)
      << ",\"timed_out\":" << (timed_out ? "true" : "false") << ",\"chunks\":" << d.size()
      << ",\"delay_us\":{\"p50\":" << percentile(d, 50) / us << ",\"p90\":" << percentile(d, 90) / us
      << ",\"p99\":" << percentile(d, 99) / us << ",\"p999\":" << percentile(d, 99.9) / us
      << ",\"max\":" << (d.empty() ? 0.0 : static_cast<double>(*std::max_element(d.begin(), d.end())) / us)
      << "},\"delay_p50_by_decile_us\":[";
  for (int i = 0; i < 10; ++i) out << (i ? "," : "") << percentile(st.by_decile[i], 50) / us;
  out << "],\"delay_p99_by_decile_us\":[";
  for (int i = 0; i < 10; ++i) out << (i ? "," : "") << percentile(st.by_decile[i], 99) / us;
  out << "],\"ttft_ms\":{\"p50\":" << percentile(st.ttft_ns, 50) / 1e6 << ",\"p99\":" << percentile(st.ttft_ns, 99) / 1e6
      << "},\"max_active\":" << best_active << ",\"rss_before_kb\":" << rss_before << ",\"rss_peak_kb\":" << best_rss
      << ",\"rss_per_stream_kib\":"
      << (best_active > 0 ? static_cast<double>(best_rss - rss_before) / best_active : 0.0) << ",\"errors\":{";
  bool first = true;
  for (const auto& [k, v] : st.errors) {
    out << (first ? "" : ",") << "\"" << json_escape(k) << "\":" << v;
    first = false;
  }
  out << "}}";
  std::cout << out.str() << std::endl;
  return st.ok == streams ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) die("usage: stream_client origin|run [--key value ...] (see the comment at the top of the file)");
  std::string cmd = argv[1];
  auto o = parse_options(argc, argv, 2);
  if (cmd == "origin") return run_origin(o);
  if (cmd == "run") return run_client(o);
  die("unknown command " + cmd);
}
