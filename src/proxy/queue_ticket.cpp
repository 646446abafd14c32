#include "proxy/queue_ticket.h"

namespace modelgate::proxy {

// FNV-1a of the address's 16 bytes, folded to the tenant's 32 bits: two addresses share a tenant
// only by a collision, which costs them fairness between each other, nothing else.
Ticket queue_ticket(const routing::IpAddress& client) {
  std::uint64_t h = 14695981039346656037ull;
  for (std::uint8_t b : client.bytes) {
    h ^= b;
    h *= 1099511628211ull;
  }
  return Ticket{Priority::normal, static_cast<std::uint32_t>(h ^ (h >> 32)), 1};
}

Ticket queue_ticket(std::uint32_t key_id, Priority priority) { return Ticket{priority, key_id, 1}; }

}  // namespace modelgate::proxy
