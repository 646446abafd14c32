#include "proxy/fair_share.h"

#include <algorithm>
#include <utility>

namespace modelgate::proxy {

const FairShare::Entry* FairShare::find(const void* line, Priority priority, bool is_clock,
                                        std::uint32_t tenant) const {
  for (const Entry& e : entries_) {
    if (e.line == line && e.priority == priority && e.is_clock == is_clock && (is_clock || e.tenant == tenant)) {
      return &e;
    }
  }
  return nullptr;
}

FairShare::Entry* FairShare::find(const void* line, Priority priority, bool is_clock, std::uint32_t tenant) {
  return const_cast<Entry*>(std::as_const(*this).find(line, priority, is_clock, tenant));
}

FairShare::Entry& FairShare::get(const void* line, Priority priority, bool is_clock, std::uint32_t tenant) {
  if (Entry* e = find(line, priority, is_clock, tenant)) return *e;
  return entries_.emplace_back(Entry{line, priority, is_clock, tenant, 0, 0});
}

std::uint64_t FairShare::join(const void* line, const Ticket& ticket) {
  Entry& clock = get(line, ticket.priority, true, 0);
  ++clock.members;
  const std::uint64_t now = clock.tag;  // `clock` may move when the tenant's entry is added
  Entry& tenant = get(line, ticket.priority, false, ticket.tenant);
  const std::uint64_t start = std::max(now, tenant.tag);
  tenant.tag = start + std::max<std::uint64_t>(ticket.cost, 1);
  return start;
}

void FairShare::serve(const void* line, Priority priority, std::uint64_t tag) {
  if (Entry* clock = find(line, priority, true, 0)) clock->tag = std::max(clock->tag, tag);
}

void FairShare::leave(const void* line, const Ticket& ticket, std::uint64_t tag, bool served) {
  Entry* clock = find(line, ticket.priority, true, 0);
  if (!clock) return;
  if (!served) {
    Entry* tenant = find(line, ticket.priority, false, ticket.tenant);
    if (tenant && tenant->tag == tag + std::max<std::uint64_t>(ticket.cost, 1)) tenant->tag = tag;
  }
  if (--clock->members > 0) return;
  std::erase_if(entries_, [&](const Entry& e) { return e.line == line && e.priority == ticket.priority; });
}

std::uint64_t FairShare::virtual_time(const void* line, Priority priority) const {
  const Entry* e = find(line, priority, true, 0);
  return e ? e->tag : 0;
}

std::size_t FairShare::members(const void* line) const {
  std::size_t n = 0;
  for (const Entry& e : entries_) {
    if (e.line == line && e.is_clock) n += e.members;
  }
  return n;
}

std::uint64_t FairShare::finish_tag(const void* line, const Ticket& ticket) const {
  const Entry* e = find(line, ticket.priority, false, ticket.tenant);
  return e ? e->tag : 0;
}

}  // namespace modelgate::proxy
