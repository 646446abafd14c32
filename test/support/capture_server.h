// A tiny HTTP server for integration tests that need to see exactly what the gateway sends, or
// to play a service with a fixed answer (an auth service for forwardAuth): it accepts connections
// on 127.0.0.1:0, one at a time, answers every request with `reply` (200 "ok" by default), and
// keeps the head of the last request it saw. Request bodies are not expected (GET).
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

namespace modelgate::test {

class CaptureServer {
 public:
  static constexpr const char* kOk =
      "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: keep-alive\r\nX-Hop: x\r\n\r\nok";

  explicit CaptureServer(std::string reply = kOk);
  ~CaptureServer();
  std::uint16_t port() const { return port_; }
  std::string last_head();
  int requests();  // heads seen so far
  void set_reply(std::string reply);

 private:
  void serve();
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::mutex mutex_;
  std::string reply_;
  std::string last_head_;
  int requests_ = 0;
  std::thread thread_;
};

}  // namespace modelgate::test
