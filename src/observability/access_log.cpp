// Access log rings, formats and the writer thread. See access_log.h for the design.
#include "observability/access_log.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <iterator>
#include <stdexcept>

#include "text/json_escape.h"
#include "text/utf8.h"

namespace modelgate::observability {

namespace {

constexpr std::array<std::string_view, 20> kFields = {
    "time",    "client",   "method", "path",    "status", "bytes_in",      "bytes_out",
    "duration_ms", "upstream", "router", "service", "model", "stream", "ttfb_ms", "ttft_ms",
    "prompt_tokens", "completion_tokens", "attempts", "worker", "key"};
static_assert(kFields.size() <= 32);

constexpr std::uint32_t kAllFields = (1u << kFields.size()) - 1;


using Out = std::back_insert_iterator<std::string>;

using text::append_json_escaped;

// Inside a quoted field of the common format: quote and backslash escaped, control bytes and
// invalid UTF-8 as \xHH (as nginx does), so a line can never be split or forged by a client.
void quoted_escape(std::string& out, std::string_view v) {
  const auto* p = reinterpret_cast<const unsigned char*>(v.data());
  for (std::size_t i = 0; i < v.size();) {
    const unsigned char c = p[i];
    if (c >= 0x80) {
      if (auto len = text::utf8_length(p + i, v.size() - i)) {
        out.append(v.data() + i, len);
        i += len;
        continue;
      }
      fmt::format_to(Out(out), "\\x{:02X}", c);
    } else if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c == 0x7f) {
      fmt::format_to(Out(out), "\\x{:02X}", c);
    } else {
      out += static_cast<char>(c);
    }
    ++i;
  }
}

void quoted_or_dash(std::string& out, std::string_view v) {
  out += '"';
  if (v.empty()) out += '-';
  else quoted_escape(out, v);
  out += '"';
}

// A logfmt value: bare when it is plain printable ASCII, otherwise quoted and escaped.
void logfmt_value(std::string& out, std::string_view v) {
  if (v.empty()) {
    out += '-';
    return;
  }
  for (char ch : v) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c >= 0x7f || c == '"' || c == '=' || c == '\\') {
      quoted_or_dash(out, v);
      return;
    }
  }
  out += v;
}

double to_ms(std::chrono::nanoseconds d) { return static_cast<double>(d.count()) / 1e6; }

struct Civil {
  int year;
  unsigned month, day, hour, minute, second, millis;
};

Civil civil(std::chrono::system_clock::time_point tp) {
  using namespace std::chrono;
  const auto ms = floor<milliseconds>(tp);
  const auto day = floor<days>(ms);
  const year_month_day ymd{day};
  const hh_mm_ss hms{ms - day};
  return {int(ymd.year()), unsigned(ymd.month()), unsigned(ymd.day()), unsigned(hms.hours().count()),
          unsigned(hms.minutes().count()), unsigned(hms.seconds().count()),
          unsigned(hms.subseconds().count())};
}

constexpr std::array<std::string_view, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                      "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

}  // namespace

// ---------------------------------------------------------------------------------------------

struct alignas(64) AccessLog::Ring {
  explicit Ring(std::size_t capacity) : slots(capacity), mask(capacity - 1) {}
  std::vector<RequestRecord> slots;
  const std::size_t mask;
  // Producer (the worker).
  alignas(64) std::atomic<std::uint64_t> tail{0};
  std::uint64_t cached_head = 0;
  std::atomic<std::uint64_t> dropped{0};  // single writer
  // Consumer (the writer thread).
  alignas(64) std::atomic<std::uint64_t> head{0};
};

std::span<const std::string_view> AccessLog::field_names() { return kFields; }

AccessLog::AccessLog(const config::AccessLog& cfg, unsigned workers, Options options)
    : enabled_(cfg.enabled), options_(options) {
  if (!enabled_) return;
  if (cfg.format == "json") {
    json_ = true;
  } else if (cfg.format != "common" && !cfg.format.empty()) {
    throw std::runtime_error(
        fmt::format("accessLog.format: unknown format \"{}\"; use \"common\" or \"json\"", cfg.format));
  }
  field_mask_ = cfg.fields.empty() ? kAllFields : 0;
  for (const auto& f : cfg.fields) {
    std::size_t i = 0;
    while (i < kFields.size() && kFields[i] != f) ++i;
    if (i == kFields.size())
      throw std::runtime_error(fmt::format("accessLog.fields: unknown field \"{}\"; known fields: {}", f,
                                           fmt::join(kFields, ", ")));
    field_mask_ |= 1u << i;
  }
  path_ = cfg.path == "stdout" ? std::string() : cfg.path;
  open_file();
  if (fd_ < 0) throw std::runtime_error(fmt::format("accessLog.path: cannot open \"{}\": {}", path_, std::strerror(errno)));

  std::size_t capacity = 2;
  while (capacity < options_.queue_capacity) capacity *= 2;
  for (unsigned i = 0; i < std::max(workers, 1u); ++i) rings_.push_back(std::make_unique<Ring>(capacity));
  thread_ = std::thread([this] { run(); });
}

AccessLog::~AccessLog() { stop(); }

void AccessLog::open_file() {
  if (path_.empty()) {
    if (own_fd_) ::close(fd_);
    fd_ = STDOUT_FILENO;
    own_fd_ = false;
    return;
  }
  const int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    if (fd_ >= 0) spdlog::error("access log: cannot reopen {}: {}; still writing to the old file", path_, std::strerror(errno));
    return;
  }
  if (own_fd_) ::close(fd_);
  fd_ = fd;
  own_fd_ = true;
}

void AccessLog::log(const RequestRecord& r) {
  if (!enabled_ || stopped_.load(std::memory_order_relaxed)) return;
  if (r.worker >= rings_.size()) {
    rejected_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  Ring& q = *rings_[r.worker];
  const std::uint64_t capacity = q.slots.size();
  const std::uint64_t t = q.tail.load(std::memory_order_relaxed);
  if (t - q.cached_head >= capacity) {
    q.cached_head = q.head.load(std::memory_order_acquire);
    if (t - q.cached_head >= capacity) {
      q.dropped.store(q.dropped.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
      return;
    }
  }
  q.slots[t & q.mask] = r;  // copy-assignment reuses the slot's string capacity
  q.tail.store(t + 1, std::memory_order_release);
  // Half full: wake the writer early rather than wait for its timer. The lock-free check keeps
  // the common case to a load; notify without the mutex may be missed, then the timer catches up.
  if (t + 1 - q.cached_head >= capacity / 2) {
    q.cached_head = q.head.load(std::memory_order_acquire);
    if (t + 1 - q.cached_head >= capacity / 2 && !wake_requested_.load(std::memory_order_relaxed) &&
        !wake_requested_.exchange(true, std::memory_order_relaxed))
      wake_.notify_one();
  }
}

void AccessLog::reopen() { reopen_requested_.store(true, std::memory_order_relaxed); }

std::uint64_t AccessLog::dropped() const {
  std::uint64_t n = rejected_.load(std::memory_order_relaxed);
  for (const auto& q : rings_) n += q->dropped.load(std::memory_order_relaxed);
  return n;
}

void AccessLog::flush() {
  if (!thread_.joinable()) return;
  std::unique_lock lock(mutex_);
  const std::uint64_t id = ++flush_requested_;
  wake_.notify_one();
  flushed_.wait(lock, [&] { return flush_done_ >= id || stopped_.load(); });
}

void AccessLog::stop() {
  if (!thread_.joinable()) return;
  {
    std::lock_guard lock(mutex_);
    stopping_.store(true);
  }
  wake_.notify_one();
  thread_.join();
  {
    std::lock_guard lock(mutex_);  // a flush() between its check and its wait must see it
    stopped_.store(true);
  }
  flushed_.notify_all();
  if (own_fd_) ::close(fd_);
  own_fd_ = false;
  fd_ = -1;
}

void AccessLog::run() {
  std::string batch;
  for (;;) {
    std::uint64_t flush_target;
    bool last;
    {
      std::unique_lock lock(mutex_);
      wake_.wait_for(lock, options_.flush_interval, [&] {
        return stopping_.load() || wake_requested_.load(std::memory_order_relaxed) ||
               flush_requested_ > flush_done_;
      });
      flush_target = flush_requested_;
      last = stopping_.load();
    }
    wake_requested_.store(false, std::memory_order_relaxed);
    if (reopen_requested_.exchange(false, std::memory_order_relaxed)) open_file();
    drain(batch);
    {
      std::lock_guard lock(mutex_);
      flush_done_ = flush_target;
    }
    flushed_.notify_all();
    if (last) return;
  }
}

bool AccessLog::drain(std::string& batch) {
  bool any = false;
  for (auto& qp : rings_) {
    Ring& q = *qp;
    std::uint64_t h = q.head.load(std::memory_order_relaxed);
    const std::uint64_t t = q.tail.load(std::memory_order_acquire);
    for (; h != t; ++h) {
      format(batch, q.slots[h & q.mask]);
      written_.fetch_add(1, std::memory_order_relaxed);
      any = true;
      if (batch.size() >= 256 * 1024) {
        q.head.store(h + 1, std::memory_order_release);
        write_all(batch);
        batch.clear();
      }
    }
    q.head.store(t, std::memory_order_release);
  }
  if (!batch.empty()) write_all(batch);
  batch.clear();
  return any;
}

void AccessLog::write_all(std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd_, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      // Not fatal: the requests are served all the same. Report once per failing batch.
      spdlog::error("access log: write to {} failed: {}; {} bytes lost", path_.empty() ? "stdout" : path_,
                    std::strerror(errno), data.size());
      return;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

void AccessLog::format(std::string& out, const RequestRecord& r) const {
  const Civil c = civil(r.time);
  if (!json_) {
    // client - key [10/Oct/2000:13:55:36 +0000] "GET /path HTTP/1.1" 200 2326 "router" "service" "upstream" k=v...
    // (the API key's name, when there is one, in the common format's "authuser" place)
    out += r.client.empty() ? std::string_view("-") : std::string_view(r.client);
    out += " - ";
    logfmt_value(out, r.key);
    fmt::format_to(Out(out), " [{:02}/{}/{:04}:{:02}:{:02}:{:02} +0000] \"", c.day, kMonths[c.month - 1], c.year,
                   c.hour, c.minute, c.second);
    quoted_escape(out, r.method);
    out += ' ';
    quoted_escape(out, r.path);
    fmt::format_to(Out(out), " HTTP/1.1\" {} {} ", r.status, r.bytes_out);
    quoted_or_dash(out, r.router);
    out += ' ';
    quoted_or_dash(out, r.service);
    out += ' ';
    quoted_or_dash(out, r.upstream);
    out += " model=";
    logfmt_value(out, r.model);
    out += r.stream ? " stream=true ttft_ms=" : " stream=false ttft_ms=";
    if (r.ttft) fmt::format_to(Out(out), "{:.3f}", to_ms(*r.ttft));
    else out += '-';
    out += " prompt_tokens=";
    if (r.prompt_tokens) fmt::format_to(Out(out), "{}", *r.prompt_tokens);
    else out += '-';
    out += " completion_tokens=";
    if (r.completion_tokens) fmt::format_to(Out(out), "{}", *r.completion_tokens);
    else out += '-';
    fmt::format_to(Out(out), " attempts={} duration_ms={:.3f}\n", r.attempts, to_ms(r.duration));
    return;
  }

  out += '{';
  bool first = true;
  auto key = [&](std::size_t i) {
    if (!(field_mask_ & (1u << i))) return false;
    if (!first) out += ',';
    first = false;
    out += '"';
    out += kFields[i];
    out += "\":";
    return true;
  };
  auto str = [&](std::string_view v) {
    out += '"';
    append_json_escaped(out, v);
    out += '"';
  };
  auto opt_ms = [&](const std::optional<RequestRecord::Duration>& d) {
    if (d) fmt::format_to(Out(out), "{:.3f}", to_ms(*d));
    else out += "null";
  };
  auto opt_n = [&](const std::optional<std::uint64_t>& n) {
    if (n) fmt::format_to(Out(out), "{}", *n);
    else out += "null";
  };
  if (key(0))
    fmt::format_to(Out(out), "\"{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z\"", c.year, c.month, c.day, c.hour,
                   c.minute, c.second, c.millis);
  if (key(1)) str(r.client);
  if (key(2)) str(r.method);
  if (key(3)) str(r.path);
  if (key(4)) fmt::format_to(Out(out), "{}", r.status);
  if (key(5)) fmt::format_to(Out(out), "{}", r.bytes_in);
  if (key(6)) fmt::format_to(Out(out), "{}", r.bytes_out);
  if (key(7)) fmt::format_to(Out(out), "{:.3f}", to_ms(r.duration));
  if (key(8)) str(r.upstream);
  if (key(9)) str(r.router);
  if (key(10)) str(r.service);
  if (key(11)) str(r.model);
  if (key(12)) out += r.stream ? "true" : "false";
  if (key(13)) opt_ms(r.ttfb);
  if (key(14)) opt_ms(r.ttft);
  if (key(15)) opt_n(r.prompt_tokens);
  if (key(16)) opt_n(r.completion_tokens);
  if (key(17)) fmt::format_to(Out(out), "{}", r.attempts);
  if (key(18)) fmt::format_to(Out(out), "{}", r.worker);
  if (!r.key.empty() && key(19)) str(r.key);  // only with auth: lines without keys stay as they were
  out += "}\n";
}

}  // namespace modelgate::observability
