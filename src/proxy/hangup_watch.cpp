#include "proxy/hangup_watch.h"

namespace modelgate::proxy {

HangupWatch::~HangupWatch() {
  if (shared_) shared_->orphaned = true;
}

void HangupWatch::set_upstream(net::Stream* upstream) {
  upstream_ = upstream;
  if (shared_) shared_->upstream = upstream;
}

void HangupWatch::start(net::Stream& client, net::ReadBuffer& into, bool grow) {
  if (!shared_) shared_ = std::make_shared<Shared>();  // once per connection, on its first slow answer
  if (shared_->state == State::reading) return;
  std::span<char> room = grow ? into.prepare(512) : into.tail();
  if (room.empty()) return;  // the input buffer is full: a pipelining client; no watch
  shared_->state = State::reading;
  shared_->into = &into;
  shared_->upstream = upstream_;
  client.async_read_some(asio::buffer(room.data(), room.size()),
                         [shared = shared_](const boost::system::error_code& ec, std::size_t n) {
                           Shared& s = *shared;
                           if (s.orphaned) return;  // its session is gone
                           if (n > 0) {  // the next request, early (pipelining): read after this one
                             s.into->commit(n);
                             s.state = State::off;
                             return;
                           }
                           if (ec == asio::error::operation_aborted) {
                             s.state = State::off;
                             return;
                           }
                           s.state = State::client_gone;
                           if (s.upstream) {
                             boost::system::error_code ignored;
                             s.upstream->close(ignored);
                           }
                         });
}

net::Task<void> HangupWatch::stop(net::Stream& client) {
  if (state() != State::reading) co_return;
  boost::system::error_code ignored;
  client.cancel(ignored);
  // The cancelled read completes through the event loop; the buffer is not touched again until
  // it has.
  while (shared_->state == State::reading) co_await asio::post(client.get_executor(), net::use_task);
}

}  // namespace modelgate::proxy
