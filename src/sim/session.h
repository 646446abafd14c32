// One client connection of the sim: a coroutine loop reading a request, answering it, and
// repeating while the connection is kept alive. Requests on a connection are answered in order,
// one at a time (a pipelined request waits in the read buffer, so reading is paced by answering).
//
// Timeouts: a watchdog coroutine ticks every couple of seconds and closes the connection once
// `deadline_` has passed. The loop moves the deadline before every read and write, and clears it
// while a generation waits on purpose (queue, ttft, tpot, an injected hang or stall): then the
// client decides how long to wait, and a concurrent read notices when it gives up.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "sim/core.h"
#include "sim/openai_request.h"
#include "sim/openai_responses.h"
#include "sim/tokenizer.h"

namespace modelgate::sim::detail {

class Listener;

// X-Sim-Status: a status (300-599) a test asks the sim to answer with, as an OpenAI error.
std::optional<int> forced_status(const boost::beast::http::fields& fields);

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(boost::asio::ip::tcp::socket socket, std::shared_ptr<Listener> listener);

  // Serves the connection until it closes; `self` keeps the session alive meanwhile.
  static boost::asio::awaitable<void> start(std::shared_ptr<Session> self);
  // Closes the socket: pending operations end with an error. Call on the session's executor.
  void close();
  boost::asio::any_io_executor executor() { return socket_.get_executor(); }

 private:
  using Request = boost::beast::http::request<boost::beast::http::string_body>;
  enum class Outcome { completed, failed };

  boost::asio::awaitable<void> serve();
  static boost::asio::awaitable<void> watchdog(std::shared_ptr<Session> self);
  boost::asio::awaitable<bool> handle(Request& request);  // false: close the connection

  // Endpoints (session.cpp: simple ones; generation.cpp: completions).
  boost::asio::awaitable<bool> models();
  boost::asio::awaitable<bool> embeddings(Request& request);
  boost::asio::awaitable<bool> audio(Request& request, bool translate);  // audio.cpp
  // media.cpp: /v1/rerank, /v1/audio/speech, /v1/images/generations.
  boost::asio::awaitable<bool> model_endpoint(Request& request, std::string_view path);
  boost::asio::awaitable<bool> admin(Request& request, std::string_view path);
  boost::asio::awaitable<bool> generation(Request& request, Endpoint endpoint);
  boost::asio::awaitable<Outcome> timed_generation(Completion c, bool stream, bool include_usage,
                                                   int ttft_ms, int tpot_ms);
  void build_complete_stream(const Completion& c, bool include_usage);
  void append_stream_end(const Completion& c, bool include_usage);  // finish, usage, [DONE]
  void frame_stream_start(const Completion& c);  // the events before the first token, if any

  // Engine mode (engine_session.cpp): the generation as the engine model times it; /metrics.
  boost::asio::awaitable<Outcome> engine_generation(Completion c, bool stream, bool include_usage);
  boost::asio::awaitable<bool> engine_metrics();

  // Waits until the client closes the connection (or the wait is cancelled). Bytes of a
  // pipelined next request are kept in buffer_.
  boost::asio::awaitable<void> watch_close();
  boost::asio::awaitable<bool> sleep_until(Clock::time_point when);
  boost::asio::awaitable<void> wait_forever(boost::asio::steady_timer& timer);

  // Responses.
  boost::asio::awaitable<bool> send(int status, std::string_view content_type, std::string_view body);
  boost::asio::awaitable<bool> send_error(const ApiError& error);
  boost::asio::awaitable<bool> write(std::string_view a, std::string_view b = {});
  void start_head(int status, std::string_view content_type, std::optional<std::size_t> length);
  void frame(std::string_view event);  // appends `event` to out_ as one piece of a streamed body

  Clock::duration idle_timeout() const;
  Clock::duration watchdog_tick() const;
  void arm(Clock::duration timeout) { deadline_ = Clock::now() + timeout; }
  void disarm() { deadline_ = Clock::time_point::max(); }

  boost::asio::ip::tcp::socket socket_;
  std::shared_ptr<Listener> listener_;
  SimCore& core_;
  boost::beast::flat_buffer buffer_;
  boost::asio::steady_timer watchdog_timer_;
  boost::asio::steady_timer generation_timer_;
  boost::asio::steady_timer hold_timer_;
  Clock::time_point deadline_ = Clock::time_point::max();
  bool keep_alive_ = true;
  bool http10_ = false;
  // Reused across requests so that the steady state allocates little.
  std::string out_, body_, event_;
  GenerationRequest generation_request_;
  EmbeddingRequest embedding_request_;
  TokenizedPrompt engine_prompt_;
};

}  // namespace modelgate::sim::detail
