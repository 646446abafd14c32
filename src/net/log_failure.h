// The completion handler of a detached coroutine on a worker: an exception that ends it is logged
// with what it was, not dropped. asio::detached discards the exception_ptr it is handed, which
// made a failing session vanish without a trace.
#pragma once

#include <exception>

namespace modelgate::net {

struct LogFailure {
  const char* what;  // "session", "accept loop", ... (a string literal)
  unsigned worker;
  void operator()(std::exception_ptr e) const;
};

}  // namespace modelgate::net
