// sd_notify(3) messages of the gateway's lifecycle (service_notify.h).
#include "control/service_notify.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <systemd/sd-daemon.h>

#include <cstring>
#include <ctime>
#include <string>

namespace modelgate::control::service {

namespace {

void send(const std::string& message) {
  // unset_environment = 0: NOTIFY_SOCKET stays for the process a binary upgrade starts.
  const int r = sd_notify(0, message.c_str());
  if (r < 0) spdlog::warn("cannot notify the service manager ({}): {}", message, std::strerror(-r));
}

std::string status_line(std::string_view status) {
  std::string line(status);
  for (char& c : line)
    if (c == '\n') c = ' ';
  return "STATUS=" + line;
}

}  // namespace

void ready(std::string_view st) { send("READY=1\n" + status_line(st)); }
void stopping(std::string_view st) { send("STOPPING=1\n" + status_line(st)); }
void status(std::string_view st) { send(status_line(st)); }
void main_pid(pid_t pid, std::string_view st) { send(fmt::format("MAINPID={}\n{}", pid, status_line(st))); }

Reloading::Reloading() {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  const auto usec = static_cast<unsigned long long>(now.tv_sec) * 1'000'000ULL + now.tv_nsec / 1000;
  send(fmt::format("RELOADING=1\nMONOTONIC_USEC={}\nSTATUS=reloading the configuration", usec));
}

void Reloading::set_status(std::string_view st) { status_ = st; }

Reloading::~Reloading() { ready(status_); }

}  // namespace modelgate::control::service
