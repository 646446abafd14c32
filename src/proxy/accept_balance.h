// Which worker serves a connection that a worker accepted.
//
// Every worker listens on its own SO_REUSEPORT socket, and the kernel chooses the socket by a hash
// of the connection's addresses and ports: even over many short connections, but a client that
// opens 64 long-lived keep-alive connections gets a binomial split (35/29 and 37/27 are common,
// 40/24 happens). Under load a worker serves its connections in turn, so the one holding more of
// them sets the tail latency for everyone (docs/performance.md, "Two workers"). The accepting worker
// therefore hands the connection to the worker serving the fewest, when that one serves more than
// kAcceptSlack fewer than the acceptor does, as HAProxy's listeners pass each connection to their
// least loaded thread. The slack keeps connection-per-request traffic, whose counts move all the
// time, from crossing threads over a difference of one. Workers that stopped accepting (their loop
// kept failing) are given nothing.
//
// Cost: one relaxed load per worker per accepted connection, and, for a connection handed over, a
// post to the other worker's loop; nothing per request.
#pragma once

#include <cstddef>

namespace modelgate::proxy {

inline constexpr int kAcceptSlack = 1;

// count(i): connections worker i serves now; accepting(i): whether it may be given more.
template <class Count, class Accepting>
std::size_t choose_worker(std::size_t self, std::size_t workers, Count&& count, Accepting&& accepting) {
  const int mine = count(self);
  std::size_t best = self;
  int least = mine;
  for (std::size_t i = 0; i < workers; ++i) {
    if (i == self || !accepting(i)) continue;
    const int theirs = count(i);
    if (theirs < least) {
      best = i;
      least = theirs;
    }
  }
  return mine - least > kAcceptSlack ? best : self;
}

}  // namespace modelgate::proxy
