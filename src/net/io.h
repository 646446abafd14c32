// The I/O types of the data plane, bound to the worker's io_context executor.
//
// Asio's default `any_io_executor` is type-erased: every operation copies and destroys it through
// function pointers, which showed as 17 % of the proxy's user time. Naming the concrete executor
// once here removes that from every socket, timer and coroutine of the request path.
#pragma once

#include <boost/asio/deferred.hpp>

#include "net/asio.h"

namespace modelgate::net {

using Executor = asio::io_context::executor_type;
using Socket = asio::basic_stream_socket<tcp, Executor>;
using Acceptor = asio::basic_socket_acceptor<tcp, Executor>;
using Timer = asio::basic_waitable_timer<std::chrono::steady_clock,
                                         asio::wait_traits<std::chrono::steady_clock>, Executor>;
template <class T>
using Task = asio::awaitable<T, Executor>;

inline constexpr asio::use_awaitable_t<Executor> use_task{};
// As `nothrow`, for Task coroutines: errors come back as values.
inline constexpr auto try_task = asio::as_tuple(use_task);
// For a socket or timer operation awaited on the request path: the operation is awaited in place
// (use_awaitable wraps each one in a coroutine frame of its own, allocated and freed per call),
// its error returned as a value. Its arguments are held until the await ends: only for arguments
// without destructors (buffers, sockets), see the note in proxy/asio.h.
inline constexpr auto try_op = asio::as_tuple(asio::deferred);

}  // namespace modelgate::net
