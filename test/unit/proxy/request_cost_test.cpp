// A waiting request's cost: a token per 4 bytes of body plus the completion it asks for.
#include "proxy/request_cost.h"

#include <gtest/gtest.h>

namespace modelgate::proxy {
namespace {

TEST(RequestCost, BodyBytesOverFourPlusMaxTokens) {
  std::string body = R"({"model":"m","max_tokens":100,"messages":[{"role":"user","content":")" +
                     std::string(4000, 'x') + R"("}]})";
  EXPECT_EQ(estimate_request_tokens(body), body.size() / 4 + 100);
  std::string completion = R"({"model":"m","max_completion_tokens":7,"prompt":"hi"})";
  EXPECT_EQ(estimate_request_tokens(completion), completion.size() / 4 + 7);
}

TEST(RequestCost, WhatCannotBeReadCountsAsBytesOnly) {
  std::string none = R"({"model":"m","prompt":"hello there"})";
  EXPECT_EQ(estimate_request_tokens(none), none.size() / 4);
  std::string negative = R"({"max_tokens":-5,"prompt":"hello there, hello"})";
  EXPECT_EQ(estimate_request_tokens(negative), negative.size() / 4);
  std::string not_json = "not json at all, 28 bytes..";
  EXPECT_EQ(estimate_request_tokens(not_json), not_json.size() / 4);
  std::string huge = R"({"max_tokens":99999999999})";
  EXPECT_EQ(estimate_request_tokens(huge), huge.size() / 4 + 1'000'000) << "capped";
  std::string empty;
  EXPECT_EQ(estimate_request_tokens(empty), 1u);
}

TEST(RequestCost, AStreamedBodyByItsLength) {
  EXPECT_EQ(estimate_streamed_tokens(40'000), 10'000u);
  EXPECT_EQ(estimate_streamed_tokens(0), 1u) << "unknown length";
}

}  // namespace
}  // namespace modelgate::proxy
