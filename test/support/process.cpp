#include "support/process.h"

#include <cerrno>
#include <csignal>
#include <cstring>
#include <stdexcept>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

extern char** environ;

namespace modelgate::test {

namespace {

std::runtime_error sys_error(const std::string& what, int err) {
  return std::runtime_error(what + ": " + std::strerror(err));
}

}  // namespace

Process::Process(std::string executable, std::vector<std::string> args, std::vector<std::string> env)
    : executable_(std::move(executable)) {
  // Everything the child needs is prepared before fork: after it, in a multi-threaded parent,
  // the child may only call async-signal-safe functions.
  std::vector<std::string> argv_strings;
  argv_strings.push_back(executable_);
  for (auto& a : args) argv_strings.push_back(std::move(a));
  std::vector<char*> argv;
  for (auto& a : argv_strings) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<char*> envp;
  for (char** e = environ; *e; ++e) envp.push_back(*e);
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  int out[2];
  int exec_error[2];  // the child writes errno here if exec fails; CLOEXEC closes it on success
  if (::pipe2(out, O_CLOEXEC) != 0) throw sys_error("pipe", errno);
  if (::pipe2(exec_error, O_CLOEXEC) != 0) {
    int err = errno;
    ::close(out[0]);
    ::close(out[1]);
    throw sys_error("pipe", err);
  }
  const pid_t parent = ::getpid();
  pid_ = ::fork();
  if (pid_ < 0) {
    int err = errno;
    for (int fd : {out[0], out[1], exec_error[0], exec_error[1]}) ::close(fd);
    throw sys_error("fork", err);
  }
  if (pid_ == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(127);  // the parent died before prctl
    ::setpgid(0, 0);  // a terminal's Ctrl-C goes to the test, which then kills us itself
    ::dup2(out[1], STDOUT_FILENO);
    ::dup2(out[1], STDERR_FILENO);
    if (std::strchr(argv[0], '/')) {
      ::execve(argv[0], argv.data(), envp.data());
    } else {
      ::execvpe(argv[0], argv.data(), envp.data());  // a bare name: search PATH
    }
    int err = errno;
    [[maybe_unused]] auto n = ::write(exec_error[1], &err, sizeof err);
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(exec_error[1]);
  int err = 0;
  ssize_t n;
  do {
    n = ::read(exec_error[0], &err, sizeof err);
  } while (n < 0 && errno == EINTR);
  ::close(exec_error[0]);
  if (n == static_cast<ssize_t>(sizeof err)) {
    ::close(out[0]);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
    throw sys_error("cannot run " + executable_, err);
  }
  output_fd_ = out[0];
  reader_ = std::thread([this] { read_output(); });
}

Process::~Process() {
  if (pid_ > 0 && !status_) {
    ::kill(pid_, SIGKILL);
    reap(true);
  }
  {
    std::lock_guard lock(mutex_);
    stop_reading_ = true;  // a grandchild may still hold the pipe open
  }
  if (reader_.joinable()) reader_.join();
  if (output_fd_ >= 0) ::close(output_fd_);
}

void Process::read_output() {
  char buf[4096];
  for (;;) {
    {
      std::lock_guard lock(mutex_);
      if (stop_reading_) break;
    }
    pollfd p{output_fd_, POLLIN, 0};
    int ready = ::poll(&p, 1, 50);
    if (ready < 0 && errno == EINTR) continue;
    if (ready <= 0) continue;
    ssize_t n = ::read(output_fd_, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    std::lock_guard lock(mutex_);
    output_.append(buf, static_cast<std::size_t>(n));
    changed_.notify_all();
  }
  std::lock_guard lock(mutex_);
  output_ended_ = true;
  changed_.notify_all();
}

std::optional<LineMatch> Process::wait_for_line(const std::regex& pattern,
                                                std::chrono::milliseconds timeout) {
  return wait_for(pattern, timeout, false);
}

std::optional<LineMatch> Process::wait_for_next_line(const std::regex& pattern,
                                                     std::chrono::milliseconds timeout) {
  return wait_for(pattern, timeout, true);
}

std::optional<LineMatch> Process::wait_for(const std::regex& pattern, std::chrono::milliseconds timeout,
                                           bool after_last_match) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  std::unique_lock lock(mutex_);
  std::size_t pos = after_last_match ? next_line_ : 0;
  for (;;) {
    // Complete lines from `pos`; once the output has ended, a last unterminated line counts too.
    while (pos < output_.size()) {
      auto end = output_.find('\n', pos);
      if (end == std::string::npos && !output_ended_) break;
      if (end == std::string::npos) end = output_.size();
      std::string line = output_.substr(pos, end - pos);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      pos = end + 1;
      std::smatch m;
      if (std::regex_search(line, m, pattern)) {
        LineMatch match;
        for (const auto& g : m) match.groups.push_back(g.str());
        match.line = std::move(line);
        next_line_ = std::max(next_line_, pos);
        return match;
      }
    }
    if (output_ended_) return std::nullopt;
    if (changed_.wait_until(lock, deadline) == std::cv_status::timeout) {
      if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    }
  }
}

std::string Process::output() const {
  std::lock_guard lock(mutex_);
  return output_;
}

void Process::signal(int sig) {
  if (pid_ > 0 && !reap(false)) ::kill(pid_, sig);
}

void Process::kill() { signal(SIGKILL); }

bool Process::reap(bool block) {
  if (status_) return true;
  if (pid_ <= 0) return false;
  int raw = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &raw, block ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r != pid_) return false;
  status_ = WIFEXITED(raw) ? WEXITSTATUS(raw) : WIFSIGNALED(raw) ? 128 + WTERMSIG(raw) : raw;
  return true;
}

std::optional<int> Process::wait(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!reap(false)) {
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(5ms);
  }
  // The process has ended; what it wrote may still be in the pipe. Wait for the reader to see
  // the end of it (bounded: a grandchild may keep the pipe open), so output() is complete.
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, 1s, [&] { return output_ended_; });
  return status_;
}

bool Process::running() { return pid_ > 0 && !reap(false); }

std::uint16_t free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) throw sys_error("socket", errno);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    int err = errno;
    ::close(fd);
    throw sys_error("bind 127.0.0.1:0", err);
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

}  // namespace modelgate::test
