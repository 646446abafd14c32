// The TCP rule syntax (routing/rule.h): HostSNI, HostSNIRegexp and ClientIP with the HTTP rules'
// operators, against the SNI and the client address; which rules need the ClientHello read.
#include <gtest/gtest.h>

#include <string>
#include <variant>

#include "routing/rule.h"

namespace modelgate::routing {
namespace {

Rule tcp_rule(std::string_view text) {
  auto parsed = parse_rule(text, RuleSyntax::tcp);
  if (auto* err = std::get_if<RuleError>(&parsed)) {
    ADD_FAILURE() << text << ": " << err->message;
    return std::get<Rule>(parse_rule("HostSNI(`*`)", RuleSyntax::tcp));
  }
  return std::get<Rule>(std::move(parsed));
}

RequestView conn(std::string_view sni, std::string_view ip = "127.0.0.1") {
  RequestView v;
  v.host = sni;
  v.client_ip = *IpAddress::parse(ip);
  return v;
}

RuleError tcp_error(std::string_view text) {
  auto parsed = parse_rule(text, RuleSyntax::tcp);
  if (auto* err = std::get_if<RuleError>(&parsed)) return *err;
  ADD_FAILURE() << text << " parsed";
  return {};
}

TEST(TcpRule, HostSniStarMatchesEveryConnectionAndNeedsNoHello) {
  const Rule r = tcp_rule("HostSNI(`*`)");
  EXPECT_TRUE(r.matches(conn("")));
  EXPECT_TRUE(r.matches(conn("a.example")));
  EXPECT_FALSE(r.needs_sni());
}

TEST(TcpRule, NamesIgnoreCaseAndATrailingDot) {
  const Rule r = tcp_rule("HostSNI(`A.example`, `b.example.`)");
  EXPECT_TRUE(r.needs_sni());
  EXPECT_TRUE(r.matches(conn("a.EXAMPLE")));
  EXPECT_TRUE(r.matches(conn("b.example")));
  EXPECT_FALSE(r.matches(conn("c.example")));
  EXPECT_FALSE(r.matches(conn("")));
}

TEST(TcpRule, RegexpClientIpAndOperators) {
  const Rule r = tcp_rule("(HostSNIRegexp(`^api\\.`) && !ClientIP(`10.0.0.0/8`)) || ClientIP(`127.0.0.3`)");
  EXPECT_TRUE(r.needs_sni());
  EXPECT_TRUE(r.matches(conn("api.example", "192.168.1.1")));
  EXPECT_FALSE(r.matches(conn("api.example", "10.1.2.3")));
  EXPECT_FALSE(r.matches(conn("", "192.168.1.1")));
  EXPECT_TRUE(r.matches(conn("", "127.0.0.3")));
  EXPECT_FALSE(tcp_rule("ClientIP(`::1`)").needs_sni());
}

TEST(TcpRule, EachSyntaxKnowsOnlyItsMatchers) {
  EXPECT_EQ(tcp_error("Host(`a`)").message,
            "\"Host\" is a matcher of HTTP routers, expected one of the TCP matchers HostSNI, HostSNIRegexp, "
            "ClientIP");
  EXPECT_EQ(tcp_error("PathPrefix(`/`)").message,
            "\"PathPrefix\" is a matcher of HTTP routers, expected one of the TCP matchers HostSNI, HostSNIRegexp, "
            "ClientIP");
  EXPECT_EQ(tcp_error("Port(`1`)").message,
            "unknown matcher \"Port\", expected one of the TCP matchers HostSNI, HostSNIRegexp, ClientIP");
  EXPECT_EQ(tcp_error("HostSNi(`a`)").message,
            "unknown matcher \"HostSNi\", did you mean \"HostSNI\"? (write names as documented, all-lowercase or "
            "all-uppercase)");
  auto http = parse_rule("HostSNI(`*`)");
  ASSERT_TRUE(std::holds_alternative<RuleError>(http));
  EXPECT_EQ(std::get<RuleError>(http).message,
            "\"HostSNI\" is a matcher of TCP routers (tcp.routers), expected one of Host, HostRegexp, Path, "
            "PathPrefix, PathRegexp, Method, Header, HeaderRegexp, Query, ClientIP, Model, ModelRegexp");
  EXPECT_EQ(tcp_error("").message, "empty rule, expected a matcher such as HostSNI(`*`)");
}

TEST(TcpRule, BadHostSniArguments) {
  const RuleError star = tcp_error("HostSNI(`a.example`, `*`)");
  EXPECT_EQ(star.offset, 21u);
  EXPECT_EQ(star.message, "HostSNI(`*`) takes no other name, expected `*` alone");
  EXPECT_EQ(tcp_error("HostSNI(`a:443`)").message,
            "invalid HostSNI name \"a:443\", expected a domain such as `api.example.com` or `*`");
  EXPECT_EQ(tcp_error("HostSNIRegexp(`(`)").offset, 14u);
}

}  // namespace
}  // namespace modelgate::routing
