// The Asio/Beast names every layer uses, in one place: the aliases in namespace modelgate, the
// completion token in modelgate::net.
#pragma once

#include <boost/asio.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace modelgate {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;
using boost::asio::awaitable;

}  // namespace modelgate

namespace modelgate::net {

// Completion token for awaits that return their error instead of throwing: errors are values on
// the data plane.
//
// g++ 12 may destroy a temporary with a destructor twice when it is created inside a co_await
// expression (e.g. `co_await f(std::string(...))`): name such values in a local first.
inline constexpr auto nothrow = boost::asio::as_tuple(boost::asio::use_awaitable);

}  // namespace modelgate::net
