// Who goes first among requests waiting for a slot of one service: strict priority between the
// classes (interactive, then default, then batch), and within a class start-time fair queuing by
// tokens (Goyal, Vin and Cheng, SIGCOMM 1996; by tokens as in the Virtual Token Counter of Sheng et
// al., "Fairness in Serving Large Language Models", OSDI 2024).
//
// Each waiting request gets a start tag when it first queues: S = max(V, F_t), and its tenant's
// finish tag moves to F_t = S + cost, where V is the line's virtual time (the start tag of the
// latest request served) and the cost is the request's estimated tokens (request_cost.h). The
// request with the smallest start tag is served first. A tenant that floods long prompts pushes
// its own tags ahead by its own tokens, so a light tenant's next request starts at V and passes
// them; a tenant that was idle starts at V too, not at its old F_t: it banks no credit for the
// time it sent nothing (the VTC's counter lift). Equal tags keep arrival order.
//
// A request that leaves unserved gives its cost back when it was its tenant's latest. When the
// last request of a line (service and class) leaves, the line's tags are forgotten: fairness is
// about contention, and the table stays as small as the tenants waiting now.
//
// One FairShare per worker, touched by its thread only: no lock, no atomic. With several workers
// each orders its own waiters (a worker's tenant that is light there goes first there).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "config/config.h"

namespace modelgate::proxy {

// A key's class (config `auth.keys[].priority`): a smaller value goes first.
using Priority = config::Priority;

// What the queue knows of a request: its class, whose it is, what it costs.
struct Ticket {
  Priority priority = Priority::normal;
  std::uint32_t tenant = 0;
  std::uint64_t cost = 1;  // estimated tokens, at least 1
};

class FairShare {
 public:
  // A request of `ticket` joins the line of `line` (a service): its start tag.
  std::uint64_t join(const void* line, const Ticket& ticket);
  // The request that joined with `tag` got a slot: the line's virtual time moves up to its tag.
  void serve(const void* line, Priority priority, std::uint64_t tag);
  // The request leaves the line, served or not (an unserved one gives its cost back when it was
  // its tenant's latest).
  void leave(const void* line, const Ticket& ticket, std::uint64_t tag, bool served);

  // For tests and the docs' examples: the line's virtual time, a tenant's finish tag (0 when the
  // line or tenant is not known), the entries held.
  std::uint64_t virtual_time(const void* line, Priority priority) const;
  std::uint64_t finish_tag(const void* line, const Ticket& ticket) const;
  // Requests in the lines of `line`, every class.
  std::size_t members(const void* line) const;
  std::size_t entries() const { return entries_.size(); }

 private:
  // One line's clock (tenant unused) or one tenant's finish tag in a line. A flat vector: the
  // entries are the tenants waiting now, a handful; it allocates when it grows, not per request.
  struct Entry {
    const void* line;
    Priority priority;
    bool is_clock;
    std::uint32_t tenant;
    std::uint32_t members;  // clock: requests in the line now
    std::uint64_t tag;      // clock: V; tenant: F_t
  };
  Entry* find(const void* line, Priority priority, bool is_clock, std::uint32_t tenant);
  const Entry* find(const void* line, Priority priority, bool is_clock, std::uint32_t tenant) const;
  Entry& get(const void* line, Priority priority, bool is_clock, std::uint32_t tenant);

  std::vector<Entry> entries_;
};

}  // namespace modelgate::proxy
