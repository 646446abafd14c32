// The service manager's end of sd_notify(3) for integration tests: a datagram socket bound to a
// path in a temporary directory, passed to the gateway as NOTIFY_SOCKET. A thread receives every
// message, so a test can wait for one ("READY=1") with a timeout and see all of them in order.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace modelgate::test {

class NotifySocket {
 public:
  NotifySocket();  // throws std::runtime_error when the socket cannot be made
  ~NotifySocket();
  NotifySocket(const NotifySocket&) = delete;
  NotifySocket& operator=(const NotifySocket&) = delete;

  // "NOTIFY_SOCKET=PATH", for Process's environment.
  std::string env() const { return "NOTIFY_SOCKET=" + path_; }
  // Waits for a message after the `from`-th (0: any) with a line equal to `line` ("READY=1") or,
  // when `line` ends with '=', starting with it ("MAINPID="). Its index, or nullopt on timeout.
  std::optional<std::size_t> wait_for(const std::string& line, std::chrono::milliseconds timeout,
                                      std::size_t from = 0);
  std::vector<std::string> messages() const;
  std::size_t count() const;
  // The value of `key` ("MAINPID") in message `index`, "" when absent.
  std::string value(std::size_t index, const std::string& key) const;
  // Every message so far, one per line with '\n' inside shown as ' | ', for failure output.
  std::string dump() const;

 private:
  void receive();

  std::string path_;
  int fd_ = -1;
  std::thread reader_;
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::vector<std::string> messages_;
  bool stop_ = false;
};

}  // namespace modelgate::test
