#include "config/parse_guard.h"

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <new>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include <fmt/format.h>

extern char** environ;

namespace modelgate::config {

namespace {

using Clock = std::chrono::steady_clock;

// The child's exit codes.
constexpr int kParsed = 0;
constexpr int kYamlError = 2;
constexpr int kOutOfMemory = 3;

constexpr std::size_t kKeptOutput = 300;  // of what the child printed, for an unexpected exit

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&&) = delete;
  ~Fd() { close(); }
  int get() const { return fd_; }
  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_;
};

std::string errno_text(const char* what) { return fmt::format("{}: {}", what, std::strerror(errno)); }

// The text in an anonymous file, to be the child's stdin: nothing to keep fed, no SIGPIPE.
std::variant<Fd, std::string> text_file(std::string_view text) {
  Fd fd(::memfd_create("modelgate-config", MFD_CLOEXEC));
  if (fd.get() < 0) return errno_text("memfd_create");
  for (std::size_t done = 0; done < text.size();) {
    const ssize_t n = ::write(fd.get(), text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return errno_text("write");
    done += static_cast<std::size_t>(n);
  }
  if (::lseek(fd.get(), 0, SEEK_SET) != 0) return errno_text("lseek");
  return fd;
}

// How a child run ended.
struct Ended {
  bool timed_out = false;
  int status = 0;      // from waitpid, unless timed out
  std::string output;  // the start of what it wrote to stdout and stderr
};

// Starts `guard.executable parse-yaml` on `input`, waits for it at most guard.timeout (killing it
// then), and reaps it. A string when it could not be started.
std::variant<Ended, std::string> run_child(const Fd& input, const ParseGuard& guard) {
  int out[2];
  if (::pipe2(out, O_CLOEXEC) != 0) return errno_text("pipe2");
  Fd out_read(out[0]);
  Fd out_write(out[1]);

  // stdin from the text, stdout and stderr into the pipe, nothing else inherited (dup2 clears
  // close-on-exec on the copies).
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, input.get(), 0);
  posix_spawn_file_actions_adddup2(&actions, out_write.get(), 1);
  posix_spawn_file_actions_adddup2(&actions, out_write.get(), 2);
  posix_spawn_file_actions_addclosefrom_np(&actions, 3);
  // The gateway blocks SIGINT, SIGTERM and SIGHUP in every thread: the child starts with no signal
  // blocked and every disposition at its default.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  const std::string memory = std::to_string(guard.memory_limit);
  const std::string timeout = std::to_string(guard.timeout.count());
  std::vector<char*> argv = {const_cast<char*>(guard.executable.c_str()), const_cast<char*>("parse-yaml"),
                             const_cast<char*>("--memory-limit"), const_cast<char*>(memory.c_str()),
                             const_cast<char*>("--timeout-ms"), const_cast<char*>(timeout.c_str()), nullptr};
  pid_t pid = -1;
  const int spawned = ::posix_spawn(&pid, guard.executable.c_str(), &actions, &attr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  if (spawned != 0) return fmt::format("cannot start {}: {}", guard.executable, std::strerror(spawned));
  out_write.close();  // from now on the pipe ends when the child exits

  // Read until the child's end of the pipe closes (it exited) or the time is up.
  Ended ended;
  std::string lost;  // the wait itself failed: nothing is known about the text
  const auto deadline = Clock::now() + guard.timeout;
  for (;;) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    pollfd p{out_read.get(), POLLIN, 0};
    const int ready = left.count() > 0 ? ::poll(&p, 1, static_cast<int>(left.count())) : 0;
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) ended.timed_out = true;
    if (ready < 0) lost = errno_text("poll");
    if (ready <= 0) break;
    char buffer[4096];
    const ssize_t n = ::read(out_read.get(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) lost = errno_text("read");
    if (n <= 0) break;
    const std::size_t keep = std::min(kKeptOutput - ended.output.size(), static_cast<std::size_t>(n));
    ended.output.append(buffer, keep);
  }
  if (ended.timed_out || !lost.empty()) ::kill(pid, SIGKILL);
  while (::waitpid(pid, &ended.status, 0) < 0 && errno == EINTR) {
  }
  if (!lost.empty()) return lost;
  return ended;
}

// Why the child did not finish, or "" when it did.
std::string failure(const Ended& e, const ParseGuard& guard) {
  if (e.timed_out) {
    return fmt::format("it did not finish within {:g} s", std::chrono::duration<double>(guard.timeout).count());
  }
  if (WIFEXITED(e.status)) {
    const int code = WEXITSTATUS(e.status);
    if (code == kParsed || code == kYamlError) return "";
    if (code == kOutOfMemory) return fmt::format("it ran out of memory, over {} MiB", guard.memory_limit >> 20);
    std::string said = e.output.substr(0, e.output.find('\n'));
    return fmt::format("it stopped with exit code {}{}{}", code, said.empty() ? "" : ": ", said);
  }
  if (WIFSIGNALED(e.status)) {
    const int sig = WTERMSIG(e.status);
    return fmt::format("it was stopped by signal {} ({}){}", sig, ::strsignal(sig),
                       sig == SIGKILL ? ", perhaps by the kernel's out-of-memory killer" : "");
  }
  return fmt::format("it ended with wait status {}", e.status);
}

}  // namespace

std::optional<Diagnostic> parse_in_child(std::string_view text, const std::string& file,
                                         const ParseGuard& guard) {
  auto unchecked = [&](const std::string& why) {
    return Diagnostic{Severity::warning, file, 0, 0,
                      fmt::format("the YAML parser could not be run apart ({}), so this file was parsed "
                                  "without its time and memory limit",
                                  why)};
  };
  auto input = text_file(text);
  if (auto* why = std::get_if<std::string>(&input)) return unchecked(*why);
  auto ran = run_child(std::get<Fd>(input), guard);
  if (auto* why = std::get_if<std::string>(&ran)) return unchecked(*why);
  const std::string why = failure(std::get<Ended>(ran), guard);
  if (why.empty()) return std::nullopt;
  return Diagnostic{Severity::error, file, 1, 1,
                    fmt::format("the YAML parser could not read this file ({}); check it for stray "
                                "punctuation such as a lone ',' where a key or a value is expected",
                                why)};
}

int parse_yaml_child(std::size_t memory_limit, std::chrono::milliseconds timeout) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // dies with the thread that started it
  // AddressSanitizer reserves terabytes of address space at startup: under it a limit on address
  // space would only make its allocator abort, so the time limit alone applies there.
#if !defined(__SANITIZE_ADDRESS__)
  const rlimit memory{memory_limit, memory_limit};
  ::setrlimit(RLIMIT_AS, &memory);
#endif
  const rlimit no_core{0, 0};
  ::setrlimit(RLIMIT_CORE, &no_core);
  // Should memory run short on the machine before the limit is reached, the kernel's
  // out-of-memory killer takes this process, not the gateway.
  if (const int fd = ::open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC); fd >= 0) {
    static_cast<void>(::write(fd, "1000", 4));
    ::close(fd);
  }
  // A backstop, should the parent be gone: SIGALRM's default action ends the process.
  ::alarm(static_cast<unsigned>(std::chrono::ceil<std::chrono::seconds>(timeout).count()) + 1);
  try {
    std::string text;
    char buffer[64 * 1024];
    for (;;) {
      const ssize_t n = ::read(0, buffer, sizeof buffer);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;
      text.append(buffer, static_cast<std::size_t>(n));
    }
    YAML::LoadAll(text);  // the same call as the loader's (loader.cpp)
    return kParsed;
  } catch (const YAML::Exception&) {
    return kYamlError;
  } catch (const std::bad_alloc&) {
    return kOutOfMemory;
  }
}

}  // namespace modelgate::config
