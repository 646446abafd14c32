// Whose a waiting request is and its class, for the fair queue (fair_share.h).
//
// Without API keys a tenant is a client address: clients are served fairly between addresses,
// all of class default. A request of a key is the key's tenant, of the key's priority class.
#pragma once

#include "proxy/fair_share.h"
#include "routing/rule.h"

namespace modelgate::proxy {

// The ticket of a request no key names (its cost left at 1 for the caller to set).
Ticket queue_ticket(const routing::IpAddress& client);
// The ticket of a request of an API key: `key_id` names the key's tenant (any number stable while
// the key exists, e.g. its index among the keys), `priority` its class.
Ticket queue_ticket(std::uint32_t key_id, Priority priority);

}  // namespace modelgate::proxy
