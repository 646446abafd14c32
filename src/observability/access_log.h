// The access log: one line per finished request, written by a thread of its own.
//
// A worker never waits for the log. log() copies the record into a slot of that worker's bounded
// single-producer/single-consumer ring (the slot's strings keep their capacity, so the steady state
// does not allocate) and returns; when the ring is full the record is dropped and counted
// (dropped()). The writer thread wakes at least every 50 ms (sooner when a ring is half full),
// drains every ring, formats the lines and writes them with one write(2) per batch: the log is at
// most ~50 ms behind, and the time of a line is the request's time, not the write's.
//
// reopen() only raises a flag (async-signal-safe); the writer reopens the file by name before its
// next batch, so `mv access.log access.log.1; kill -USR1 <pid>` rotates the log as with nginx.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "config/config.h"
#include "observability/request_record.h"

namespace modelgate::observability {

struct AccessLogOptions {
  std::size_t queue_capacity = 4096;  // records per worker ring (rounded up to a power of two)
  std::chrono::milliseconds flush_interval{50};
};

class AccessLog {
 public:
  using Options = AccessLogOptions;

  // Opens the file (append, created 0644) or uses standard output for path "" or "stdout", and
  // starts the writer thread. `workers`: the number of threads that call log(), each with its own
  // RequestRecord::worker index in [0, workers). Throws std::runtime_error with a message naming
  // the accessLog setting when the file cannot be opened, the format is unknown, or `fields`
  // names an unknown field. With cfg.enabled false nothing is started and log() does nothing.
  explicit AccessLog(const config::AccessLog& cfg, unsigned workers = 1, Options options = {});
  ~AccessLog();
  AccessLog(const AccessLog&) = delete;
  AccessLog& operator=(const AccessLog&) = delete;

  // From worker r.worker only: never blocks, never does I/O. A record with worker >= workers is
  // dropped (counted).
  void log(const RequestRecord& r);

  // Asks the writer to reopen the file by name before its next batch. Safe in a signal handler.
  void reopen();

  // Blocks until everything logged before the call has been written (tests, shutdown).
  void flush();

  // Writes what is queued, stops the writer and closes the file. log() afterwards does nothing.
  void stop();

  std::uint64_t dropped() const;  // records lost to full rings, since the start
  std::uint64_t written() const { return written_.load(std::memory_order_relaxed); }

  // The keys of the json format, in the order they are written; `fields` chooses among them.
  static std::span<const std::string_view> field_names();

  // One line, with its trailing newline (exposed for tests and tools).
  void format(std::string& out, const RequestRecord& r) const;

 private:
  struct Ring;

  void run();
  bool drain(std::string& batch);
  void write_all(std::string_view data);
  void open_file();

  bool enabled_ = false;
  bool json_ = false;
  std::string path_;  // empty: standard output
  std::uint32_t field_mask_ = 0;
  Options options_;

  std::vector<std::unique_ptr<Ring>> rings_;
  int fd_ = -1;
  bool own_fd_ = false;

  std::atomic<bool> reopen_requested_{false};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> stopped_{false};
  std::atomic<bool> wake_requested_{false};
  std::atomic<std::uint64_t> written_{0};
  std::atomic<std::uint64_t> rejected_{0};  // worker index out of range (a wiring bug)

  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable flushed_;
  std::uint64_t flush_requested_ = 0;  // under mutex_
  std::uint64_t flush_done_ = 0;       // under mutex_
  std::thread thread_;
};

}  // namespace modelgate::observability
