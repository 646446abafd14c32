// The YAML parse of a configuration file, tried first in a short-lived child process with a memory
// and a time limit, so that input the parser cannot finish is refused instead of taking the
// gateway down.
//
// Why: yaml-cpp 0.7.0 (Debian 12's) never returns on some malformed input, a file holding only
// "," for one: it loops, allocating, until the process is killed. In `check` or at startup that is
// a hang; on a reload it would stop a running gateway, which must keep its old config instead.
// Nothing in-process can bound it (a thread cannot be stopped, and the allocations are the
// gateway's), so the text is first given to `modelgate parse-yaml` on stdin: the same binary
// (/proc/self/exe), started with posix_spawn (never a bare fork in this multithreaded program),
// that sets RLIMIT_AS on itself and runs the very same YAML::LoadAll. It exits 0 when the parser
// returned, 2 when it threw a YAML error, 3 when it ran out of memory. The parent kills it after
// the time limit. Only when it returned (0 or 2) is the text parsed in-process, where a YAML error
// gets its precise message; anything else is an error diagnostic naming the file.
//
// Cost: one process per load of a file (startup, `check`, a reload), a few milliseconds; never on
// the internal rebuilds that read no file. If the child cannot be started at all (no /proc, a
// process limit) the load goes on unguarded, with a warning.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "config/diagnostics.h"

namespace modelgate::config {

struct ParseGuard {
  // A modelgate binary (its hidden `parse-yaml` subcommand runs parse_yaml_child); in the
  // modelgate process itself, "/proc/self/exe".
  std::string executable;
  std::chrono::milliseconds timeout{5000};
  std::size_t memory_limit = std::size_t{512} << 20;  // bytes of address space
};

// Parses `text` in a child process. nullopt when the parser finished (whether or not the YAML is
// valid); an error naming `file` when it was stopped (out of memory, out of time, crashed); a
// warning when no child could be started and the text was not checked.
std::optional<Diagnostic> parse_in_child(std::string_view text, const std::string& file,
                                         const ParseGuard& guard);

// The hidden `modelgate parse-yaml` subcommand: limits itself to `memory_limit` bytes of address
// space and `timeout` (rounded up to seconds, plus one: a backstop should its parent die), reads
// stdin and parses it. Returns the exit code described above.
int parse_yaml_child(std::size_t memory_limit, std::chrono::milliseconds timeout);

}  // namespace modelgate::config
