// While a server works on a request, a read on the client connection notices a hang-up and closes
// the upstream connection at once, so the model server stops generating for nobody. It reads into
// the free end of the input buffer: bytes of a pipelined next request are kept, not lost.
//
// The read's completion handler may run after the session that started it is gone (an exception
// unwound the session, or the read was cancelled by the socket's close in its destructor). It
// therefore touches nothing of the session directly: it holds a small shared block that the watch
// owns with it, and the watch's destructor marks that block orphaned. The block is allocated once
// per connection, on its first watch (an answer that takes longer than a tick).
#pragma once

#include <cstdint>
#include <memory>

#include "net/io.h"
#include "net/read_buffer.h"
#include "net/stream.h"

namespace modelgate::proxy {

class HangupWatch {
 public:
  enum class State : std::uint8_t {
    off,          // no read pending
    reading,      // a read is pending (stop() cancels it and waits for its handler)
    client_gone,  // the client hung up: the upstream connection was closed
  };

  HangupWatch() = default;
  ~HangupWatch();
  HangupWatch(const HangupWatch&) = delete;
  HangupWatch& operator=(const HangupWatch&) = delete;

  // Starts the read on `client` into `into`: into its free tail as it is, or, with `grow`, into
  // room made for it. Nothing when already reading or when the buffer has no room (a pipelining
  // client filled it).
  void start(net::Stream& client, net::ReadBuffer& into, bool grow);
  // The socket a hang-up closes (null: none).
  void set_upstream(net::Stream* upstream);
  // Cancels a pending read and waits until its handler ran (the buffer is then free to move).
  net::Task<void> stop(net::Stream& client);

  State state() const { return shared_ ? shared_->state : State::off; }
  bool client_gone() const { return state() == State::client_gone; }

 private:
  struct Shared {
    bool orphaned = false;  // the watch is gone: the handler touches nothing else
    State state = State::off;
    net::ReadBuffer* into = nullptr;
    net::Stream* upstream = nullptr;
  };
  std::shared_ptr<Shared> shared_;
  net::Stream* upstream_ = nullptr;  // kept here until a watch starts: most answers need none
};

}  // namespace modelgate::proxy
