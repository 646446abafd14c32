// Starting the new binary of an upgrade and waiting for its word (binary_upgrade.h).
#include "control/binary_upgrade.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <linux/close_range.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>

extern char** environ;

namespace modelgate::control {

std::string own_executable(const char* argv0) {
  std::error_code ec;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec && !exe.empty()) return exe.string();
  return std::filesystem::absolute(argv0 ? argv0 : "modelgate", ec).string();
}

// ---- the new process ----------------------------------------------------------------------------

UpgradeHandover UpgradeHandover::from_environment() {
  UpgradeHandover h;
  const char* value = std::getenv(kUpgradeReadyEnv);
  if (!value) return h;
  const int fd = std::atoi(value);
  ::unsetenv(kUpgradeReadyEnv);
  if (fd > 2 && ::fcntl(fd, F_SETFD, FD_CLOEXEC) == 0) h.fd_ = fd;
  return h;
}

UpgradeHandover::UpgradeHandover(UpgradeHandover&& o) noexcept : fd_(std::exchange(o.fd_, -1)) {}

UpgradeHandover::~UpgradeHandover() {
  if (fd_ >= 0) ::close(fd_);
}

void UpgradeHandover::ready() {
  if (fd_ < 0) return;
  const char byte = 'R';
  if (::write(fd_, &byte, 1) != 1)
    spdlog::warn("binary upgrade: cannot tell the old process this one is ready: {}", std::strerror(errno));
  ::close(fd_);
  fd_ = -1;
}

// ---- the old process ----------------------------------------------------------------------------

BinaryUpgrade::BinaryUpgrade(std::string executable, std::vector<std::string> args)
    : executable_(std::move(executable)), args_(std::move(args)) {}

BinaryUpgrade::~BinaryUpgrade() {
  if (ready_fd_ >= 0) ::close(ready_fd_);
}

bool BinaryUpgrade::start(const std::vector<net::NamedFd>& listeners) {
  reap();
  if (ready_fd_ >= 0) {
    spdlog::warn("binary upgrade: process {} is still starting; this signal is ignored", child_);
    return false;
  }
  std::vector<net::NamedFd> handed;
  for (const auto& l : listeners)
    if (l.fd >= 0 && net::listening_endpoint(l.fd)) handed.push_back(l);  // a closed one is not handed on

  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) {
    spdlog::error("binary upgrade not started: pipe: {}; this process keeps serving", std::strerror(errno));
    return false;
  }
  // Everything the child needs is built before fork: after it only async-signal-safe calls.
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string_view v(*e);
    if (v.starts_with(std::string(net::kListenFdsEnv) + "=") ||
        v.starts_with(std::string(kUpgradeReadyEnv) + "="))
      continue;
    env.emplace_back(v);
  }
  env.push_back(fmt::format("{}={}", net::kListenFdsEnv, net::encode_listen_fds(handed)));
  env.push_back(fmt::format("{}={}", kUpgradeReadyEnv, pipe_fds[1]));
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_strings{executable_};
  argv_strings.insert(argv_strings.end(), args_.begin(), args_.end());
  std::vector<char*> argv;
  for (auto& a : argv_strings) argv.push_back(a.data());
  argv.push_back(nullptr);

  const pid_t pid = ::fork();
  if (pid < 0) {
    ::close(pipe_fds[0]);
    ::close(pipe_fds[1]);
    spdlog::error("binary upgrade not started: fork: {}; this process keeps serving", std::strerror(errno));
    return false;
  }
  if (pid == 0) {
    // Asio opens and accepts sockets without close-on-exec: without this the new process would
    // hold every client and server connection of the old one open after the old one has left.
    if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) {
      for (int fd = 3, max = static_cast<int>(::sysconf(_SC_OPEN_MAX)); fd < max; ++fd)
        ::fcntl(fd, F_SETFD, FD_CLOEXEC);
    }
    for (const auto& l : handed) ::fcntl(l.fd, F_SETFD, 0);
    ::fcntl(pipe_fds[1], F_SETFD, 0);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);  // the gateway blocks its signals for sigwait
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  ::fcntl(pipe_fds[0], F_SETFL, O_NONBLOCK);
  ready_fd_ = pipe_fds[0];
  child_ = pid;
  deadline_ = std::chrono::steady_clock::now() + kReadyTimeout;
  spdlog::info(
      "binary upgrade: started {} as process {} with {} listening sockets; waiting up to {} s for it",
      executable_, pid, handed.size(), kReadyTimeout.count());
  return true;
}

BinaryUpgrade::Outcome BinaryUpgrade::check(std::chrono::steady_clock::time_point now) {
  reap();
  if (ready_fd_ < 0) return Outcome::none;
  char byte = 0;
  const auto n = ::read(ready_fd_, &byte, 1);
  if (n == 1) {
    ::close(ready_fd_);
    ready_fd_ = -1;
    return Outcome::ready;
  }
  if (n == 0) return fail("exited or closed its pipe before it was ready", true);
  if (now >= deadline_) return fail(fmt::format("was not ready within {} s", kReadyTimeout.count()), true);
  return Outcome::none;
}

BinaryUpgrade::Outcome BinaryUpgrade::fail(const std::string& why, bool terminate) {
  ::close(ready_fd_);
  ready_fd_ = -1;
  int status = 0;
  std::string how;
  pid_t waited = 0;
  // A closed pipe mostly means an exit a moment ago: give it that moment, to report its status.
  for (int i = 0; i < 20 && (waited = ::waitpid(child_, &status, WNOHANG)) == 0; ++i) ::usleep(10'000);
  if (waited == child_) {
    how = WIFEXITED(status) ? fmt::format(" (exit code {}{})", WEXITSTATUS(status),
                                          WEXITSTATUS(status) == 127 ? ": the binary could not be run" : "")
                            : fmt::format(" (killed by signal {})", WTERMSIG(status));
  } else {
    if (terminate) ::kill(child_, SIGTERM);
    to_reap_.push_back(child_);
  }
  spdlog::error(
      "binary upgrade failed: the new process {} ({}) {}{}; this process keeps serving. Its "
      "output above says why; `modelgate check --config FILE` validates a configuration",
      child_, executable_, why, how);
  child_ = -1;
  return Outcome::failed;
}

void BinaryUpgrade::reap() {
  std::erase_if(to_reap_, [](pid_t pid) {
    int status = 0;
    return ::waitpid(pid, &status, WNOHANG) != 0;
  });
}

}  // namespace modelgate::control
