// The Asio/Beast names the proxy uses everywhere, in one place.
#pragma once

#include <boost/asio.hpp>
#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace modelgate::proxy {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;
using boost::asio::awaitable;

// Completion token for awaits that return their error instead of throwing: errors are values on
// the data plane.
//
// g++ 12 may destroy a temporary with a destructor twice when it is created inside a co_await
// expression (e.g. `co_await f(std::string(...))`): name such values in a local first.
inline constexpr auto nothrow = boost::asio::as_tuple(boost::asio::use_awaitable);

}  // namespace modelgate::proxy
