// `promtool check metrics` (Debian package `prometheus`) on an exposition text: Prometheus's own
// parser and linter. Exit 0: valid, no lint problems; 3: valid but linted; 1: not parseable.
#pragma once

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

namespace modelgate::test {

inline std::string find_promtool() {
  for (const char* p : {"/usr/bin/promtool", "/usr/local/bin/promtool"}) {
    if (::access(p, X_OK) == 0) return p;
  }
  return {};
}

struct CommandResult {
  int exit_code = -1;
  std::string output;
};

inline CommandResult run_shell(const std::string& command) {
  CommandResult r;
  FILE* pipe = ::popen(command.c_str(), "r");
  if (!pipe) return r;
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, pipe)) r.output.append(buf, n);
  const int status = ::pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

inline CommandResult promtool_check(const std::string& promtool, const std::string& text,
                                    const std::string& name) {
  const std::filesystem::path file =
      std::filesystem::temp_directory_path() / (name + "-" + std::to_string(::getpid()) + ".prom");
  {
    std::ofstream out(file, std::ios::binary);
    out << text;
  }
  auto r = run_shell(promtool + " check metrics < '" + file.string() + "' 2>&1");
  std::filesystem::remove(file);
  return r;
}

}  // namespace modelgate::test
