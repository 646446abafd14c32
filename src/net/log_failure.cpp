#include "net/log_failure.h"

#include <spdlog/spdlog.h>

#include <exception>

namespace modelgate::net {

void LogFailure::operator()(std::exception_ptr e) const {
  if (!e) return;
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& ex) {
    spdlog::error("worker {}: {} failed: {}", worker, what, ex.what());
  } catch (...) {
    spdlog::error("worker {}: {} failed (not a std::exception)", worker, what);
  }
}

}  // namespace modelgate::net
