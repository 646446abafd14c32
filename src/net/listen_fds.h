// Listening sockets handed from a running gateway to the binary that replaces it (SIGUSR2,
// docs/high-availability.md, "Binary upgrade").
//
// The old process starts the new one with its listening sockets open (FD_CLOEXEC cleared) and
// names them in one environment variable, as systemd's LISTEN_FDS/LISTEN_FDNAMES and nginx's
// NGINX variable do:
//
//   MODELGATE_LISTEN_FDS="7:web;8:web;9:api;12:@admin"
//
// One "fd:name" per socket, ';' between them; a name is an entry point's, or "@admin" for the
// admin API. '%' and ';' in a name are written %25 and %3B. A socket is taken only by a listener
// of the same name whose address it is bound to, so a renamed or moved entry point binds anew.
//
// Why the same sockets rather than new ones bound with SO_REUSEPORT: the kernel queues a
// connection on one socket of a reuseport group, and closing that socket resets what is queued on
// it. The old process closing its own sockets would drop connections; with the sockets shared, a
// connection queued on one is accepted by whichever process still holds it.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "net/asio.h"

namespace modelgate::net {

inline constexpr const char* kListenFdsEnv = "MODELGATE_LISTEN_FDS";
inline constexpr const char* kAdminListenerName = "@admin";

struct NamedFd {
  int fd = -1;
  std::string name;
};

std::string encode_listen_fds(const std::vector<NamedFd>& fds);
// Malformed entries are left out.
std::vector<NamedFd> decode_listen_fds(std::string_view text);

// The listening socket `fd`'s local address; nullopt when `fd` is not a listening TCP socket.
std::optional<tcp::endpoint> listening_endpoint(int fd);

// The sockets a new process was given, until it has taken them.
class InheritedListeners {
 public:
  InheritedListeners() = default;
  // Reads and unsets MODELGATE_LISTEN_FDS; every socket named there is made close-on-exec again,
  // so no later child (the config parse guard) holds it. Call before starting threads.
  static InheritedListeners from_environment();
  explicit InheritedListeners(std::vector<NamedFd> fds) : fds_(std::move(fds)) {}
  InheritedListeners(const InheritedListeners&) = delete;
  InheritedListeners& operator=(const InheritedListeners&) = delete;
  InheritedListeners(InheritedListeners&&) = default;
  InheritedListeners& operator=(InheritedListeners&&) = default;
  ~InheritedListeners();  // closes what nobody took

  // A socket named `name` listening on `want`'s address (any port when want's port is 0); the
  // caller owns it from now on. -1 when there is none.
  int take(std::string_view name, const tcp::endpoint& want);
  // How many `take(name, want)` would still return.
  std::size_t count(std::string_view name, const tcp::endpoint& want) const;
  bool empty() const { return fds_.empty(); }
  // Closes every socket not taken, with a log line naming it (an entry point no longer configured,
  // or one that moved to another address).
  void close_rest();

 private:
  static bool matches(const NamedFd& f, std::string_view name, const tcp::endpoint& want);
  std::vector<NamedFd> fds_;
};

}  // namespace modelgate::net
