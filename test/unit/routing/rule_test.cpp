// Unit tests of the rule language: each matcher true and false, operator precedence, string
// forms, argument normalisation, and the exact offset and wording of each parse error (the
// loader turns offsets into FILE:LINE:COL, so they are part of the contract).
#include "routing/rule.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace modelgate::routing {
namespace {

// A request with owned storage; view() is what a rule sees.
struct Request {
  std::string method = "GET";
  std::string host = "example.com";
  std::string path = "/";
  std::string query;
  std::vector<HeaderField> headers;  // views of string literals
  std::string client_ip = "192.0.2.1";
  ModelState model_state = ModelState::not_read;
  std::string model;

  RequestView view() const {
    RequestView v;
    v.method = method;
    v.host = host;
    v.path = path;
    v.query = query;
    v.headers = headers;
    v.client_ip = IpAddress::parse(client_ip).value();
    v.model_state = model_state;
    v.model = model;
    return v;
  }
};

Rule parse_ok(std::string_view text) {
  auto result = parse_rule(text);
  if (const auto* error = std::get_if<RuleError>(&result)) {
    ADD_FAILURE() << "rule " << text << " failed at " << error->offset << ": " << error->message;
    return std::get<Rule>(parse_rule("PathPrefix(`/`)"));
  }
  return std::get<Rule>(std::move(result));
}

RuleError parse_error(std::string_view text) {
  auto result = parse_rule(text);
  if (std::holds_alternative<Rule>(result)) {
    ADD_FAILURE() << "rule " << text << " parsed, expected an error";
    return {};
  }
  return std::get<RuleError>(std::move(result));
}

bool match(std::string_view rule, const Request& request = {}) {
  return parse_ok(rule).matches(request.view());
}

Request with_host(std::string host) {
  Request r;
  r.host = std::move(host);
  return r;
}

Request with_path(std::string path) {
  Request r;
  r.path = std::move(path);
  return r;
}

Request with_query(std::string query) {
  Request r;
  r.query = std::move(query);
  return r;
}

Request from_ip(std::string ip) {
  Request r;
  r.client_ip = std::move(ip);
  return r;
}

Request with_model(std::string model) {
  Request r;
  r.model_state = ModelState::present;
  r.model = std::move(model);
  return r;
}

// ---- Matchers ----

TEST(RuleHost, MatchesIgnoringCase) {
  EXPECT_TRUE(match("Host(`example.com`)", with_host("example.com")));
  EXPECT_TRUE(match("Host(`Example.COM`)", with_host("eXample.com")));
  EXPECT_FALSE(match("Host(`example.com`)", with_host("example.org")));
  EXPECT_FALSE(match("Host(`example.com`)", with_host("www.example.com")));
  EXPECT_FALSE(match("Host(`example.com`)", with_host("")));
}

TEST(RuleHost, SeveralArgumentsMeanAny) {
  EXPECT_TRUE(match("Host(`a.com`, `b.com`)", with_host("b.com")));
  EXPECT_TRUE(match("Host(`a.com`, `b.com`)", with_host("A.com")));
  EXPECT_FALSE(match("Host(`a.com`, `b.com`)", with_host("c.com")));
}

TEST(RuleHost, TrailingDotIsIgnoredOnEitherSide) {
  EXPECT_TRUE(match("Host(`example.com`)", with_host("example.com.")));
  EXPECT_TRUE(match("Host(`example.com.`)", with_host("example.com")));
  EXPECT_FALSE(match("Host(`example.com`)", with_host(".")));
}

TEST(RuleHost, Ipv6LiteralsWithOrWithoutBrackets) {
  EXPECT_TRUE(match("Host(`::1`)", with_host("[::1]")));
  EXPECT_TRUE(match("Host(`[::1]`)", with_host("[::1]")));
  EXPECT_TRUE(match("Host(`fd00::A`)", with_host("fd00::a")));
  EXPECT_FALSE(match("Host(`::1`)", with_host("[::2]")));
  EXPECT_TRUE(match("HostRegexp(`^::1$`)", with_host("[::1]")));
}

TEST(RuleHost, RegexpIsSearchedIgnoringCase) {
  EXPECT_TRUE(match("HostRegexp(`^.+\\.example\\.com$`)", with_host("api.example.com")));
  EXPECT_FALSE(match("HostRegexp(`^.+\\.example\\.com$`)", with_host("example.com")));
  EXPECT_TRUE(match("HostRegexp(`example`)", with_host("api.example.com")));  // unanchored
  EXPECT_FALSE(match("HostRegexp(`example`)", with_host("api.sample.com")));
  // Traefik lowercases the host before matching: lowercase patterns match any case, and
  // uppercase letters in a pattern never match.
  EXPECT_TRUE(match("HostRegexp(`^api\\.example\\.com$`)", with_host("API.Example.com")));
  EXPECT_TRUE(match("HostRegexp(`^[a-z]+\\.com$`)", with_host("EXAMPLE.com")));
  EXPECT_FALSE(match("HostRegexp(`^API`)", with_host("API.example.com")));
  EXPECT_TRUE(match("HostRegexp(`(?i)^API`)", with_host("api.example.com")));
  // A Host header longer than any valid name is still matched, lowercased.
  EXPECT_TRUE(match("HostRegexp(`^a{300}\\.com$`)", with_host(std::string(300, 'A') + ".com")));
}

TEST(RuleRegexp, LeadingGoCaseFlag) {
  EXPECT_FALSE(match("PathRegexp(`^/v1/Models$`)", with_path("/v1/models")));
  EXPECT_TRUE(match("PathRegexp(`(?i)^/v1/Models$`)", with_path("/v1/models")));
  EXPECT_TRUE(match("ModelRegexp(`(?i)^qwen`)", with_model("Qwen2.5-7B")));
}

TEST(RulePath, Exact) {
  EXPECT_TRUE(match("Path(`/v1/models`)", with_path("/v1/models")));
  EXPECT_FALSE(match("Path(`/v1/models`)", with_path("/v1/models/x")));
  EXPECT_FALSE(match("Path(`/v1/models`)", with_path("/V1/models")));
  EXPECT_TRUE(match("Path(`/a`, `/b`)", with_path("/b")));
}

TEST(RulePath, Prefix) {
  EXPECT_TRUE(match("PathPrefix(`/v1`)", with_path("/v1/chat/completions")));
  EXPECT_TRUE(match("PathPrefix(`/v1`)", with_path("/v1")));
  EXPECT_FALSE(match("PathPrefix(`/v1`)", with_path("/v2/chat")));
  EXPECT_FALSE(match("PathPrefix(`/v1`)", with_path("/")));
  EXPECT_TRUE(match("PathPrefix(`/v2`, `/v1`)", with_path("/v1/x")));
}

TEST(RulePath, RegexpIsSearchedAndCaseSensitive) {
  const char* rule = "PathRegexp(`^/v1/(chat/)?completions$`)";
  EXPECT_TRUE(match(rule, with_path("/v1/completions")));
  EXPECT_TRUE(match(rule, with_path("/v1/chat/completions")));
  EXPECT_FALSE(match(rule, with_path("/v1/embeddings")));
  EXPECT_TRUE(match("PathRegexp(`chat`)", with_path("/v1/chat/completions")));
  EXPECT_FALSE(match("PathRegexp(`chat`)", with_path("/v1/CHAT/completions")));
}

TEST(RuleMethod, ExactAndArgumentUppercased) {
  Request post;
  post.method = "POST";
  EXPECT_TRUE(match("Method(`POST`)", post));
  EXPECT_TRUE(match("Method(`post`)", post));  // Traefik uppercases the argument
  EXPECT_FALSE(match("Method(`GET`)", post));
  EXPECT_TRUE(match("Method(`GET`, `POST`)", post));
  post.method = "post";  // the request method is case-sensitive (RFC 9110 9.1)
  EXPECT_FALSE(match("Method(`POST`)", post));
}

TEST(RuleHeader, NameIgnoresCaseValueExact) {
  Request r;
  r.headers = {{"Content-Type", "application/json"}, {"x-model", "glm4"}};
  EXPECT_TRUE(match("Header(`X-Model`, `glm4`)", r));
  EXPECT_TRUE(match("Header(`X-MODEL`, `glm4`)", r));
  EXPECT_FALSE(match("Header(`X-Model`, `GLM4`)", r));
  EXPECT_FALSE(match("Header(`X-Model`, `glm`)", r));
  EXPECT_FALSE(match("Header(`X-Other`, `glm4`)", r));
}

TEST(RuleHeader, AnyFieldWithTheName) {
  Request r;
  r.headers = {{"X-Tag", "a"}, {"X-Tag", "b"}};
  EXPECT_TRUE(match("Header(`x-tag`, `b`)", r));
  EXPECT_FALSE(match("Header(`x-tag`, `a, b`)", r));
  EXPECT_TRUE(match("HeaderRegexp(`X-Tag`, `^b$`)", r));
  EXPECT_FALSE(match("HeaderRegexp(`X-Tag`, `^c`)", r));
  EXPECT_FALSE(match("HeaderRegexp(`X-None`, ``)", r));  // empty regexp, but no such field
  EXPECT_TRUE(match("HeaderRegexp(`X-Tag`, ``)", r));
}

TEST(RuleQuery, KeyAndValue) {
  EXPECT_TRUE(match("Query(`debug`, `1`)", with_query("a=2&debug=1")));
  EXPECT_FALSE(match("Query(`debug`, `1`)", with_query("debug=2")));
  EXPECT_TRUE(match("Query(`debug`, `1`)", with_query("debug=2&debug=1")));
  EXPECT_FALSE(match("Query(`debug`, `1`)", with_query("")));
  EXPECT_FALSE(match("Query(`debug`, `1`)", with_query("xdebug=1")));
  EXPECT_TRUE(match("Query(`debug`, ``)", with_query("debug")));
  EXPECT_TRUE(match("Query(`debug`, ``)", with_query("debug=")));
}

TEST(RuleQuery, KeyAlone) {
  EXPECT_TRUE(match("Query(`debug`)", with_query("debug")));
  EXPECT_TRUE(match("Query(`debug`)", with_query("x=1&debug=anything")));
  EXPECT_FALSE(match("Query(`debug`)", with_query("debugging=1")));
  EXPECT_FALSE(match("Query(`debug`)", with_query("")));
}

TEST(RuleQuery, DecodesLikeGo) {
  EXPECT_TRUE(match("Query(`q`, `a b`)", with_query("q=a+b")));
  EXPECT_TRUE(match("Query(`q`, `a b`)", with_query("q=a%20b")));
  EXPECT_TRUE(match("Query(`my key`, `x&y=z`)", with_query("my%20key=x%26y%3Dz")));
  EXPECT_TRUE(match("Query(`q`, `é`)", with_query("q=%C3%A9")));
  EXPECT_TRUE(match("Query(`q`, `=`)", with_query("q==")));  // split on the first "="
  EXPECT_FALSE(match("Query(`q`, `a+b`)", with_query("q=a+b")));
  // Pairs with a bad escape or a ";" are dropped, as by url.ParseQuery.
  EXPECT_FALSE(match("Query(`q`, `1`)", with_query("q=1%zz")));
  EXPECT_FALSE(match("Query(`q`, `1`)", with_query("q=1%2")));
  EXPECT_FALSE(match("Query(`q`)", with_query("q=1;x=2")));
  EXPECT_TRUE(match("Query(`q`, `1`)", with_query("q=%zz&q=1")));
}

TEST(RuleClientIP, Ipv4) {
  EXPECT_TRUE(match("ClientIP(`10.0.0.0/8`)", from_ip("10.1.2.3")));
  EXPECT_FALSE(match("ClientIP(`10.0.0.0/8`)", from_ip("11.0.0.1")));
  EXPECT_TRUE(match("ClientIP(`127.0.0.1`)", from_ip("127.0.0.1")));
  EXPECT_FALSE(match("ClientIP(`127.0.0.1`)", from_ip("127.0.0.2")));
  EXPECT_TRUE(match("ClientIP(`192.168.1.128/25`)", from_ip("192.168.1.200")));
  EXPECT_FALSE(match("ClientIP(`192.168.1.128/25`)", from_ip("192.168.1.127")));
  EXPECT_TRUE(match("ClientIP(`0.0.0.0/0`)", from_ip("8.8.8.8")));
  EXPECT_TRUE(match("ClientIP(`10.9.9.9/8`)", from_ip("10.0.0.1")));  // host bits are ignored
}

TEST(RuleClientIP, Ipv6) {
  EXPECT_TRUE(match("ClientIP(`::1`)", from_ip("::1")));
  EXPECT_FALSE(match("ClientIP(`::1`)", from_ip("::2")));
  EXPECT_TRUE(match("ClientIP(`fd00::/8`)", from_ip("fd12:3456::1")));
  EXPECT_FALSE(match("ClientIP(`fd00::/8`)", from_ip("fe80::1")));
  EXPECT_TRUE(match("ClientIP(`2001:db8::/33`)", from_ip("2001:db8:7fff::1")));
  EXPECT_FALSE(match("ClientIP(`2001:db8::/33`)", from_ip("2001:db8:8000::1")));
  EXPECT_FALSE(match("ClientIP(`::1`)", from_ip("127.0.0.1")));
}

TEST(RuleClientIP, Ipv4MappedAndSeveral) {
  EXPECT_TRUE(match("ClientIP(`10.0.0.0/8`)", from_ip("::ffff:10.0.0.7")));
  EXPECT_TRUE(match("ClientIP(`::ffff:10.0.0.0/104`)", from_ip("10.0.0.7")));
  EXPECT_TRUE(match("ClientIP(`10.0.0.0/8`, `::1`)", from_ip("::1")));
  EXPECT_TRUE(match("ClientIP(`10.0.0.0/8`, `::1`)", from_ip("10.0.0.1")));
  EXPECT_FALSE(match("ClientIP(`10.0.0.0/8`, `::1`)", from_ip("192.0.2.1")));
}

TEST(RuleModel, ExactAndRegexp) {
  EXPECT_TRUE(match("Model(`glm4-9b-chat`)", with_model("glm4-9b-chat")));
  EXPECT_FALSE(match("Model(`glm4-9b-chat`)", with_model("glm4-9b")));
  EXPECT_TRUE(match("Model(`a`, `glm4`)", with_model("glm4")));
  EXPECT_TRUE(match("ModelRegexp(`^Qwen2\\.5-`)", with_model("Qwen2.5-0.5B-Instruct")));
  EXPECT_FALSE(match("ModelRegexp(`^Qwen2\\.5-`)", with_model("Qwen2-7B")));
  EXPECT_TRUE(match("ModelRegexp(`0\\.5B`)", with_model("Qwen2.5-0.5B-Instruct")));
}

TEST(RuleModel, FalseUnlessPresent) {
  Request r = with_model("glm4");
  r.model_state = ModelState::absent;
  EXPECT_FALSE(match("Model(`glm4`)", r));
  EXPECT_FALSE(match("ModelRegexp(``)", r));
  r.model_state = ModelState::not_read;
  EXPECT_FALSE(match("Model(`glm4`)", r));
  EXPECT_TRUE(match("!Model(`glm4`)", r));
}

TEST(RuleModel, NeedsModel) {
  EXPECT_FALSE(parse_ok("Host(`a.com`) && PathPrefix(`/v1`)").needs_model());
  EXPECT_TRUE(parse_ok("Model(`glm4`)").needs_model());
  EXPECT_TRUE(parse_ok("ModelRegexp(`^glm`)").needs_model());
  EXPECT_TRUE(parse_ok("Host(`a.com`) || !(Path(`/x`) && Model(`m`))").needs_model());
}

TEST(RuleModel, ServedModelsLeaveOutNegatedOnes) {
  using Names = std::vector<std::string>;
  EXPECT_EQ(parse_ok("Model(`a`, `b`) && Host(`x.com`)").served_models(), (Names{"a", "b"}));
  EXPECT_EQ(parse_ok("!Model(`x`)").served_models(), Names{});
  EXPECT_EQ(parse_ok("PathPrefix(`/v1`) && !Model(`x`, `y`)").served_models(), Names{});
  EXPECT_EQ(parse_ok("Model(`a`) && !(Model(`x`) || Path(`/`))").served_models(), Names{"a"});
  EXPECT_EQ(parse_ok("!(!Model(`a`)) || Model(`a`)").served_models(), Names{"a"});
  // A Model( inside an argument is not a matcher; ModelRegexp names no model.
  EXPECT_EQ(parse_ok("Header(`X-Note`, `Model(`) || ModelRegexp(`^q`)").served_models(), Names{});
}

TEST(RuleModel, MayMatchModelJudgesByTheModelMatchersAlone) {
  // Other matchers could go either way: only a model matcher can rule a model out.
  EXPECT_TRUE(parse_ok("PathPrefix(`/v1`)").may_match_model("anything"));
  EXPECT_TRUE(parse_ok("ModelRegexp(`^Qwen`) && Host(`a.com`)").may_match_model("Qwen2.5-7B"));
  EXPECT_FALSE(parse_ok("ModelRegexp(`^Qwen`) && Host(`a.com`)").may_match_model("llama-3"));
  EXPECT_TRUE(parse_ok("ModelRegexp(`^Qwen`) || Header(`X-Any`, `1`)").may_match_model("llama-3"));
  EXPECT_FALSE(parse_ok("Model(`a`, `b`)").may_match_model("c"));
  EXPECT_TRUE(parse_ok("Model(`a`, `b`)").may_match_model("b"));
  EXPECT_FALSE(parse_ok("PathPrefix(`/v1`) && !Model(`x`)").may_match_model("x"));
  EXPECT_TRUE(parse_ok("PathPrefix(`/v1`) && !Model(`x`)").may_match_model("y"));
  EXPECT_TRUE(parse_ok("!(Model(`x`) && Path(`/a`))").may_match_model("x"));
}

TEST(RuleModel, NamesPathUnderOnlyForPositivePathMatchers) {
  EXPECT_TRUE(parse_ok("Path(`/v1/models`)").names_path_under("/v1/models"));
  EXPECT_TRUE(parse_ok("Method(`GET`) && PathPrefix(`/v1/models/`)").names_path_under("/v1/models"));
  EXPECT_TRUE(parse_ok("Host(`a`) || Path(`/x`, `/v1/models`)").names_path_under("/v1/models"));
  EXPECT_FALSE(parse_ok("PathPrefix(`/v1`)").names_path_under("/v1/models"));
  EXPECT_FALSE(parse_ok("!Path(`/v1/models`)").names_path_under("/v1/models"));
  EXPECT_FALSE(parse_ok("PathRegexp(`^/v1/models$`)").names_path_under("/v1/models"));
  EXPECT_FALSE(parse_ok("Header(`X-Path`, `/v1/models`)").names_path_under("/v1/models"));
}

TEST(RuleNames, TraefikSpellings) {
  EXPECT_TRUE(match("host(`example.com`)"));
  EXPECT_TRUE(match("HOST(`example.com`)"));
  EXPECT_TRUE(match("Pathprefix(`/`)"));
  EXPECT_TRUE(match("pathprefix(`/`)"));
  EXPECT_EQ(parse_error("pathPrefix(`/`)").message,
            "unknown matcher \"pathPrefix\", did you mean \"PathPrefix\"? "
            "(write names as documented, all-lowercase or all-uppercase)");
}

// ---- Operators ----

TEST(RuleOperators, AndOrNot) {
  EXPECT_TRUE(match("Host(`example.com`) && Path(`/`)"));
  EXPECT_FALSE(match("Host(`example.com`) && Path(`/x`)"));
  EXPECT_TRUE(match("Host(`other.com`) || Path(`/`)"));
  EXPECT_FALSE(match("Host(`other.com`) || Path(`/x`)"));
  EXPECT_TRUE(match("!Host(`other.com`)"));
  EXPECT_FALSE(match("!Host(`example.com`)"));
  EXPECT_TRUE(match("!!Host(`example.com`)"));
}

TEST(RuleOperators, AndBindsTighterThanOr) {
  // a || b && c  is  a || (b && c)
  EXPECT_TRUE(match("Path(`/`) || Path(`/x`) && Method(`POST`)"));
  EXPECT_FALSE(match("Path(`/x`) || Path(`/`) && Method(`POST`)"));
  // a && b || c  is  (a && b) || c
  EXPECT_TRUE(match("Path(`/x`) && Method(`POST`) || Path(`/`)"));
  EXPECT_FALSE(match("(Path(`/`) || Path(`/x`)) && Method(`POST`)"));
}

TEST(RuleOperators, NotBindsTightest) {
  // !a && b  is  (!a) && b
  EXPECT_TRUE(match("!Path(`/x`) && Path(`/`)"));
  EXPECT_FALSE(match("!Path(`/`) && Path(`/`)"));
  EXPECT_TRUE(match("!(Path(`/`) && Path(`/x`))"));
  EXPECT_FALSE(match("!Path(`/`) || Path(`/x`)"));
}

TEST(RuleOperators, ParenthesesAndWhitespace) {
  EXPECT_TRUE(match("((Path(`/`)))"));
  EXPECT_TRUE(match("\n\t( Host ( `example.com` ,`x.com` ) &&\r\n!Path(`/x`) )  "));
  EXPECT_TRUE(match("Path(`/x`)||Path(`/y`)||Path(`/z`)||Path(`/`)"));
  EXPECT_FALSE(match("Path(`/`)&&Path(`/`)&&Path(`/`)&&Path(`/x`)"));
}

// ---- Strings ----

TEST(RuleStrings, BackquotedAndDoubleQuoted) {
  EXPECT_TRUE(match("Path(\"/\")"));
  EXPECT_TRUE(match("Host(\"example.com\", `x.com`)"));
  Request r;
  r.headers = {{"X-Quote", "say \"hi\" \\o/"}};
  EXPECT_TRUE(match(R"(Header("X-Quote", "say \"hi\" \\o/"))", r));
  EXPECT_TRUE(match(R"(Header(`X-Quote`, `say "hi" \o/`))", r));  // backquotes: no escapes
  EXPECT_TRUE(match(R"(HeaderRegexp("X-Quote", "\\\\o/$"))", r));
}

TEST(RuleStrings, TextIsKept) { EXPECT_EQ(parse_ok(" Path(`/`) ").text(), " Path(`/`) "); }

// ---- Traefik seeds ----

TEST(RuleSeeds, HostAndModelHeader) {
  const Rule rule = parse_ok("Host(`service.example.com`) && Header(`X-Model`, `Qwen2.5-0.5B-Instruct`)");
  Request r = with_host("service.example.com");
  r.headers = {{"X-Model", "Qwen2.5-0.5B-Instruct"}};
  EXPECT_TRUE(rule.matches(r.view()));
  r.headers = {{"X-Model", "glm4-9b-chat"}};
  EXPECT_FALSE(rule.matches(r.view()));
  r.headers = {{"X-Model", "Qwen2.5-0.5B-Instruct"}};
  r.host = "service1.example.com";
  EXPECT_FALSE(rule.matches(r.view()));
  EXPECT_FALSE(rule.needs_model());
}

TEST(RuleSeeds, Host) {
  const Rule rule = parse_ok("Host(`service1.example.com`)");
  EXPECT_TRUE(rule.matches(with_host("service1.example.com").view()));
  EXPECT_TRUE(rule.matches(with_host("SERVICE1.example.com").view()));
  EXPECT_FALSE(rule.matches(with_host("service.example.com").view()));
}

TEST(RuleMove, MovedRuleStillMatches) {
  Rule a = parse_ok("Path(`/`)");
  Rule b = std::move(a);
  EXPECT_TRUE(b.matches(Request{}.view()));
  a = std::move(b);
  EXPECT_TRUE(a.matches(Request{}.view()));
}

// ---- IpAddress ----

TEST(RuleIpAddress, Parse) {
  const auto v4 = IpAddress::parse("10.1.2.3");
  ASSERT_TRUE(v4);
  const std::array<std::uint8_t, 16> mapped{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 1, 2, 3};
  EXPECT_EQ(v4->bytes, mapped);
  EXPECT_EQ(IpAddress::parse("::ffff:10.1.2.3")->bytes, mapped);
  const auto v6 = IpAddress::parse("::1");
  ASSERT_TRUE(v6);
  EXPECT_EQ(v6->bytes[15], 1);
  EXPECT_FALSE(IpAddress::parse(""));
  EXPECT_FALSE(IpAddress::parse("10.0.0.256"));
  EXPECT_FALSE(IpAddress::parse("10.0.0"));
  EXPECT_FALSE(IpAddress::parse("[::1]"));
  EXPECT_FALSE(IpAddress::parse("::1::2"));
  EXPECT_FALSE(IpAddress::parse("example.com"));
  EXPECT_FALSE(IpAddress::parse(std::string(100, '1')));
}

// ---- Errors: offset and message ----

struct ErrorCase {
  const char* rule;
  std::size_t offset;
  const char* message;
};

void PrintTo(const ErrorCase& c, std::ostream* os) { *os << c.rule; }

class RuleErrors : public ::testing::TestWithParam<ErrorCase> {};

TEST_P(RuleErrors, OffsetAndMessage) {
  const ErrorCase& c = GetParam();
  const RuleError e = parse_error(c.rule);
  EXPECT_EQ(e.offset, c.offset) << c.rule;
  EXPECT_EQ(e.message, c.message) << c.rule;
}

INSTANTIATE_TEST_SUITE_P(
    Syntax, RuleErrors,
    ::testing::Values(
        ErrorCase{"", 0, "empty rule, expected a matcher such as PathPrefix(`/v1`)"},
        ErrorCase{"  \n ", 0, "empty rule, expected a matcher such as PathPrefix(`/v1`)"},
        ErrorCase{"Hots(`a`)", 0, "unknown matcher \"Hots\", did you mean \"Host\"?"},
        ErrorCase{"Path(`/`) && PathPrefx(`/v1`)", 13,
                  "unknown matcher \"PathPrefx\", did you mean \"PathPrefix\"?"},
        ErrorCase{"Frobnicate(`a`)", 0,
                  "unknown matcher \"Frobnicate\", expected one of Host, HostRegexp, Path, "
                  "PathPrefix, PathRegexp, "
                  "Method, Header, HeaderRegexp, Query, ClientIP, Model, ModelRegexp"},
        ErrorCase{"Path(`/`) Host(`a`)", 10, "expected \"&&\" or \"||\" after matcher, got \"Host\""},
        ErrorCase{"Path(`/`) and Host(`a`)", 10,
                  "expected \"&&\" or \"||\" after matcher, got \"and\", did you mean \"&&\"?"},
        ErrorCase{"(Path(`/`) Host(`a`))", 11,
                  "expected \"&&\", \"||\" or \")\" after matcher, got \"Host\""},
        ErrorCase{"(Path(`/`)) Host(`a`)", 12, "expected \"&&\" or \"||\" after \")\", got \"Host\""},
        ErrorCase{"Path(`/`) & Host(`a`)", 10, "single \"&\", expected \"&&\""},
        ErrorCase{"Path(`/`) | Host(`a`)", 10, "single \"|\", expected \"||\""},
        ErrorCase{"Path(`/`) &&", 12, "expected a matcher, \"!\" or \"(\" after \"&&\", got end of rule"},
        ErrorCase{"Path(`/`) || && Path(`/`)", 13,
                  "expected a matcher such as PathPrefix(`/v1`), \"!\" or \"(\", got \"&&\""},
        ErrorCase{"!", 1, "expected a matcher such as PathPrefix(`/v1`), \"!\" or \"(\", got end of rule"},
        ErrorCase{"Path(`/`) # comment", 10, "expected \"&&\" or \"||\" after matcher, got \"#\""}));

INSTANTIATE_TEST_SUITE_P(
    Parentheses, RuleErrors,
    ::testing::Values(
        ErrorCase{"(Path(`/`)", 0, "unbalanced parenthesis: \"(\" is never closed, expected \")\""},
        ErrorCase{"Path(`/`) && ((Host(`a`))", 13,
                  "unbalanced parenthesis: \"(\" is never closed, expected \")\""},
        ErrorCase{"Path(`/`))", 9, "unbalanced parenthesis: \")\" has no matching \"(\""},
        ErrorCase{"()", 1, "empty parentheses, expected a matcher inside"},
        ErrorCase{"Path(`/`", 4, "unbalanced parenthesis: \"(\" of Path is never closed, expected \")\""},
        ErrorCase{"Path", 4, "expected \"(\" after Path, got end of rule"},
        ErrorCase{"Path `/`", 5, "expected \"(\" after Path, got a string"}));

INSTANTIATE_TEST_SUITE_P(
    Strings, RuleErrors,
    ::testing::Values(
        ErrorCase{"Path(`/v1)", 5, "unterminated string starting here, expected a closing `"},
        ErrorCase{"Path(\"/v1)", 5, "unterminated string starting here, expected a closing \""},
        ErrorCase{"Path(\"/v1\\\")", 5, "unterminated string starting here, expected a closing \""},
        ErrorCase{"Path('/v1')", 5,
                  "single quotes are not accepted, expected `backquotes` or \"double quotes\""},
        ErrorCase{"PathRegexp(\"^/v1\\.\")", 16,
                  "unknown escape in double-quoted string, expected \\\" or \\\\ "
                  "(use `backquotes` for regexps and other text with backslashes)"},
        ErrorCase{"Path(/v1)", 5, "expected an argument in `backquotes` or \"double quotes\", got \"/\""},
        ErrorCase{"Host(example)", 5,
                  "expected an argument in `backquotes` or \"double quotes\", got \"example\""},
        ErrorCase{"Host(`a` `b`)", 9, "expected \",\" or \")\" after an argument of Host, got a string"},
        ErrorCase{"Host(`a`,)", 9, "expected an argument after \",\", got \")\""}));

INSTANTIATE_TEST_SUITE_P(
    Arguments, RuleErrors,
    ::testing::Values(
        ErrorCase{"Header(`X-Model`)", 16, "Header needs 2 arguments (name, value), got 1"},
        ErrorCase{"Header(`a`, `b`, `c`)", 17, "Header needs 2 arguments (name, value), got 3"},
        ErrorCase{"Host()", 5, "Host needs at least 1 argument (domain, ...), got 0"},
        ErrorCase{"HostRegexp(`a`, `b`)", 16, "HostRegexp needs 1 argument (regexp), got 2"},
        ErrorCase{"Query(`a`, `b`, `c`)", 16, "Query needs 1 or 2 arguments (key[, value]), got 3"},
        ErrorCase{"Host(`a.com`, ``)", 14, "empty host, expected a domain such as `example.com`"},
        ErrorCase{"Host(`a.com:8080`)", 5,
                  "host \"a.com:8080\" has a port, expected the name alone (the port is not matched)"},
        ErrorCase{"Host(`bücher.de`)", 5, "non-ASCII host, expected its punycode (xn--...) form"},
        ErrorCase{"Path(`v1`)", 5, "path \"v1\" does not start with \"/\", expected e.g. `/v1`"},
        ErrorCase{"PathPrefix(`/a`, `b`)", 17, "path \"b\" does not start with \"/\", expected e.g. `/v1`"},
        ErrorCase{"Method(``)", 7, "empty method, expected one such as `POST`"},
        ErrorCase{"Header(``, `x`)", 7, "empty header name, expected one such as `X-Model`"},
        ErrorCase{"Query(``)", 6, "empty query key, expected one such as `debug`"},
        ErrorCase{"Model(``)", 6, "empty model name, expected one such as `glm4-9b-chat`"}));

INSTANTIATE_TEST_SUITE_P(
    ClientIP, RuleErrors,
    ::testing::Values(
        ErrorCase{"ClientIP(`10.0.0.0/33`)", 9,
                  "invalid ClientIP \"10.0.0.0/33\", prefix length must be a number from 0 to 32"},
        ErrorCase{"ClientIP(`::1`, `fd00::/129`)", 16,
                  "invalid ClientIP \"fd00::/129\", prefix length must be a number from 0 to 128"},
        ErrorCase{"ClientIP(`10.0.0.0/`)", 9,
                  "invalid ClientIP \"10.0.0.0/\", prefix length must be a number from 0 to 32"},
        ErrorCase{"ClientIP(`10.0.0.0/x`)", 9,
                  "invalid ClientIP \"10.0.0.0/x\", prefix length must be a number from 0 to 32"},
        ErrorCase{"ClientIP(`10.0.0.256`)", 9,
                  "invalid ClientIP \"10.0.0.256\", expected an IPv4 or IPv6 address or CIDR such as "
                  "`10.0.0.0/8` or `fd00::/8`"},
        ErrorCase{"ClientIP(`localhost`)", 9,
                  "invalid ClientIP \"localhost\", expected an IPv4 or IPv6 address or CIDR such as "
                  "`10.0.0.0/8` or `fd00::/8`"}));

TEST(RuleErrorsRegexp, OffsetOfTheArgumentAndTheRegexError) {
  for (const char* rule : {"PathRegexp(`(`)", "HostRegexp(`[a-`)", "ModelRegexp(`*x`)"}) {
    const RuleError e = parse_error(rule);
    EXPECT_EQ(e.offset, std::string_view(rule).find('`')) << rule;
    EXPECT_TRUE(e.message.starts_with("invalid regexp in ")) << e.message;
    EXPECT_TRUE(e.message.ends_with("), expected ECMAScript syntax")) << e.message;
  }
  const RuleError e = parse_error("Path(`/`) || HeaderRegexp(`X-Model`, `a)`)");
  EXPECT_EQ(e.offset, 37u);
  EXPECT_TRUE(e.message.starts_with("invalid regexp in HeaderRegexp (")) << e.message;
}

TEST(RuleErrorsRegexp, BackReferencesAreRejectedAsInGo) {
  const RuleError e = parse_error("ModelRegexp(`(a)\\1`)");
  EXPECT_EQ(e.offset, 12u);
  EXPECT_EQ(e.message,
            "invalid regexp in ModelRegexp (back-references are not supported, as in Go's regexp), "
            "expected ECMAScript syntax");
}

// libstdc++'s regex compiler reads a number into a long without a bound (undefined behaviour past
// 19 digits, found by fuzz_rule): numbers are checked before it sees them, with Go's limits.
TEST(RuleErrorsRegexp, NumbersTheRegexCompilerCannotHoldAreRefusedFirst) {
  const RuleError backref = parse_error("ModelRegexp(`^Qwen1\\88888888888888888888.5`)");
  EXPECT_EQ(backref.message,
            "invalid regexp in ModelRegexp (back-references are not supported, as in Go's regexp), "
            "expected ECMAScript syntax");
  const RuleError repeat = parse_error("ModelRegexp(`a{2,99999999999999999999}`)");
  EXPECT_EQ(repeat.message,
            "invalid regexp in ModelRegexp (repeat count 99999999999999999999 is over 1000, the most "
            "Go's regexp allows), expected ECMAScript syntax");
  EXPECT_EQ(parse_error("ModelRegexp(`a{1001}`)").offset, 12u);
  // An escaped backslash before a digit, and digits outside a repeat, are fine.
  for (const char* ok : {"ModelRegexp(`a\\\\1`)", "ModelRegexp(`qwen-72b-12345678901234567890`)",
                         "ModelRegexp(`a{2,1000}`)"}) {
    EXPECT_TRUE(std::holds_alternative<modelgate::routing::Rule>(modelgate::routing::parse_rule(ok))) << ok;
  }
}

// Regexps run in linear time without recursing per character (like Go's), so a huge input or a
// pathological pattern neither overflows the stack nor hangs.
TEST(RuleRegexp, LongInputsAndPathologicalPatterns) {
  EXPECT_TRUE(match("ModelRegexp(`^[a-z]*$`)", with_model(std::string(1 << 20, 'a'))));
  EXPECT_FALSE(match("PathRegexp(`^/(a*)*b$`)", with_path("/" + std::string(10000, 'a'))));
  // Seconds per request with a backtracking executor.
  EXPECT_FALSE(match("HostRegexp(`^([a-z0-9]+-?)*\\.example\\.com$`)",
                     with_host(std::string(64, 'a') + "!.example.com")));
}

TEST(RuleErrorsDepth, DeepNestingIsAnErrorNotACrash) {
  const std::string deep = std::string(1000, '(') + "Path(`/`)" + std::string(1000, ')');
  const RuleError e = parse_error(deep);
  EXPECT_EQ(e.offset, 100u);
  EXPECT_EQ(e.message, "rule nested too deeply, expected at most 100 levels");
  EXPECT_FALSE(std::holds_alternative<RuleError>(parse_rule(std::string(100, '!') + "Path(`/`)")));
}

TEST(RuleErrorsDepth, LongChainsAreFine) {
  std::string rule = "Path(`/`)";
  for (int i = 0; i < 10000; ++i) rule += " && Path(`/`)";
  EXPECT_TRUE(match(rule));
}

}  // namespace
}  // namespace modelgate::routing
