// The listening sockets of a binary upgrade: their names survive the environment variable, and a
// listener takes only a socket of its own name bound to its own address.
#include "net/listen_fds.h"

#include <gtest/gtest.h>
#include <unistd.h>

namespace modelgate::net {
namespace {

TEST(ListenFds, NamesSurviveTheEnvironmentVariable) {
  const std::vector<NamedFd> fds{{7, "web"}, {8, "web"}, {9, "odd;name%"}, {12, kAdminListenerName}};
  const auto text = encode_listen_fds(fds);
  EXPECT_EQ(text, "7:web;8:web;9:odd%3Bname%25;12:@admin");
  const auto back = decode_listen_fds(text);
  ASSERT_EQ(back.size(), fds.size());
  for (std::size_t i = 0; i < fds.size(); ++i) {
    EXPECT_EQ(back[i].fd, fds[i].fd);
    EXPECT_EQ(back[i].name, fds[i].name);
  }
}

TEST(ListenFds, MalformedEntriesAreLeftOut) {
  const auto back = decode_listen_fds("x:web;;7;:api;-1:a;8:ok;9:");
  ASSERT_EQ(back.size(), 1u);
  EXPECT_EQ(back[0].fd, 8);
  EXPECT_EQ(back[0].name, "ok");
}

// A socket listening on 127.0.0.1:0 (any free port): its fd, released from asio.
int listening_socket(asio::io_context& io) {
  tcp::acceptor a(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return a.release();
}

TEST(ListenFds, TakesOnlyItsOwnNameAndAddress) {
  asio::io_context io;
  const int web = listening_socket(io);
  const int api = listening_socket(io);
  const auto web_port = listening_endpoint(web)->port();
  const auto loopback = asio::ip::make_address("127.0.0.1");
  InheritedListeners inherited({{web, "web"}, {api, "api"}});

  EXPECT_EQ(inherited.take("web", tcp::endpoint(asio::ip::make_address("127.0.0.2"), web_port)), -1);
  EXPECT_EQ(inherited.take("web", tcp::endpoint(loopback, web_port + 1)), -1);
  EXPECT_EQ(inherited.take("admin", tcp::endpoint(loopback, 0)), -1);
  EXPECT_EQ(inherited.count("web", tcp::endpoint(loopback, 0)), 1u);
  EXPECT_EQ(inherited.take("web", tcp::endpoint(loopback, web_port)), web);
  EXPECT_EQ(inherited.take("web", tcp::endpoint(loopback, 0)), -1);   // taken already
  EXPECT_EQ(inherited.take("api", tcp::endpoint(loopback, 0)), api);  // port 0: any port
  EXPECT_TRUE(inherited.empty());
  ::close(web);
  ::close(api);
}

TEST(ListenFds, NotAListeningSocketIsNeverTaken) {
  int pipe_fds[2];
  ASSERT_EQ(::pipe(pipe_fds), 0);
  EXPECT_FALSE(listening_endpoint(pipe_fds[0]));
  InheritedListeners inherited({{pipe_fds[0], "web"}});
  EXPECT_EQ(inherited.take("web", tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)), -1);
  inherited.close_rest();  // closes pipe_fds[0]
  EXPECT_TRUE(inherited.empty());
  ::close(pipe_fds[1]);
}

}  // namespace
}  // namespace modelgate::net
