// Fuzz target: the YAML configuration loader (yaml-cpp, then modelgate's walk of the tree with its
// diagnostics), which `check`, startup and every reload of a running gateway go through.
//
// yaml-cpp 0.7.0 never returns on some input ("," alone): the gateway parses a file first in a
// child process with a time limit (config/parse_guard.h) and only then in-process. This target
// does the same, in a child process forked once and fed one input after another (killed and
// started again when it gets stuck), so such input is skipped as the gateway would refuse it, and
// what is fuzzed is everything the gateway runs in-process.
// Beyond crashes: a result has a Config exactly when no diagnostic is an error, and every
// diagnostic has a message.
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <yaml-cpp/yaml.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "check.h"
#include "config/loader.h"

namespace {

using namespace modelgate::config;

// A child process that parses whatever it is sent and answers one byte per text: a fork per
// input would cost more than the parse. When an answer does not come in time, the child is
// killed and the next call starts a new one.
class YamlChild {
 public:
  // True when yaml-cpp finishes parsing `text` (with or without an error) within the time limit.
  bool parser_returns(const std::string& text) {
    if (pid_ <= 0 && !start()) return false;
    const std::uint64_t size = text.size();
    if (!write_all(&size, sizeof size) || !write_all(text.data(), text.size())) return stop();
    pollfd p{from_child_, POLLIN, 0};
    char answer = 0;
    if (poll(&p, 1, 500) != 1 || read(from_child_, &answer, 1) != 1) return stop();
    return true;
  }

 private:
  bool start() {
    signal(SIGPIPE, SIG_IGN);  // a child that died is seen as a failed write, not a signal
    int to[2], from[2];
    if (pipe(to) != 0) return false;
    if (pipe(from) != 0) {
      close(to[0]);
      close(to[1]);
      return false;
    }
    pid_ = fork();
    if (pid_ == 0) {
      close(to[1]);
      close(from[0]);
      serve(to[0], from[1]);
    }
    close(to[0]);
    close(from[1]);
    to_child_ = to[1];
    from_child_ = from[0];
    return pid_ > 0 || stop();
  }

  [[noreturn]] static void serve(int in, int out) {
    for (;;) {
      std::uint64_t size = 0;
      if (!read_all(in, &size, sizeof size)) _exit(0);
      std::string text(size, '\0');
      if (!read_all(in, text.data(), size)) _exit(0);
      try {
        (void)YAML::LoadAll(text);
      } catch (const YAML::Exception&) {
      }
      if (write(out, "k", 1) != 1) _exit(0);
    }
  }

  // Moves `size` bytes with read or write, however many calls that takes.
  template <class Call, class Byte>
  static bool transfer(Call call, int fd, Byte* p, std::size_t size) {
    while (size > 0) {
      const ssize_t n = call(fd, p, size);
      if (n <= 0) return false;
      p += n;
      size -= static_cast<std::size_t>(n);
    }
    return true;
  }
  static bool read_all(int fd, void* data, std::size_t size) {
    return transfer(read, fd, static_cast<char*>(data), size);
  }
  bool write_all(const void* data, std::size_t size) {
    return transfer(write, to_child_, static_cast<const char*>(data), size);
  }

  // Ends the child (stuck, or gone); always false, the answer for the text it was given.
  bool stop() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (to_child_ >= 0) close(to_child_);
    if (from_child_ >= 0) close(from_child_);
    pid_ = 0;
    to_child_ = from_child_ = -1;
    return false;
  }

  pid_t pid_ = 0;
  int to_child_ = -1;
  int from_child_ = -1;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(modelgate::fuzz::as_view(data, size));
  static YamlChild yaml_child;
  if (!yaml_child.parser_returns(text)) return 0;
  const LoadResult result = load_text(text, "fuzz.yaml");
  bool has_error = false;
  for (const Diagnostic& d : result.diagnostics) {
    FUZZ_CHECK(!d.message.empty());
    has_error = has_error || d.severity == Severity::error;
  }
  FUZZ_CHECK(result.config.has_value() == !has_error);
  return 0;
}
