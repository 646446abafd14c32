// The key table: a presented Authorization header to a key (or why not), model globs, and each
// key's state kept across rebuilds by name.
#include <gtest/gtest.h>

#include "tenancy/key_table.h"
#include "text/sha256.h"

namespace modelgate::tenancy {
namespace {

config::Auth two_keys() {
  config::Auth auth;
  auth.enabled = true;
  config::ApiKey a;
  a.name = "team-a";
  a.digest = text::sha256("sk-a");
  a.models = {"Qwen*", "glm4-9b-chat"};
  a.priority = config::Priority::interactive;
  config::ApiKey b;
  b.name = "team-b";
  b.digest = text::sha256("sk-b");
  auth.keys = {a, b};
  return auth;
}

TEST(KeyTable, BearerKeysAreFoundAndEverythingElseSaysWhy) {
  KeyRegistry registry;
  const auto table = build_key_table(two_keys(), registry);
  ASSERT_TRUE(table);
  Credential why{};
  const Key* a = table->authenticate("Bearer sk-a", why);
  ASSERT_TRUE(a);
  EXPECT_EQ(why, Credential::ok);
  EXPECT_EQ(a->name, "team-a");
  EXPECT_EQ(a->caller().priority, config::Priority::interactive);
  EXPECT_EQ(table->authenticate("bearer   sk-b ", why)->name, "team-b");
  EXPECT_FALSE(table->authenticate("", why));
  EXPECT_EQ(why, Credential::missing);
  EXPECT_FALSE(table->authenticate("Basic dXNlcjpwYXNz", why));
  EXPECT_EQ(why, Credential::malformed);
  EXPECT_FALSE(table->authenticate("Bearer", why));
  EXPECT_EQ(why, Credential::malformed);
  EXPECT_FALSE(table->authenticate("Bearer sk-a sk-b", why));
  EXPECT_EQ(why, Credential::malformed);
  EXPECT_FALSE(table->authenticate("Bearer " + std::string(config::kMaxKeyBytes + 1, 'k'), why));
  EXPECT_EQ(why, Credential::too_long);
  EXPECT_FALSE(table->authenticate("Bearer sk-c", why));
  EXPECT_EQ(why, Credential::unknown);
}

TEST(KeyTable, ModelGlobsLimitAKey) {
  KeyRegistry registry;
  const auto table = build_key_table(two_keys(), registry);
  const Key& a = table->keys()[0];
  EXPECT_TRUE(a.allows("Qwen2.5-0.5B-Instruct"));
  EXPECT_TRUE(a.allows("glm4-9b-chat"));
  EXPECT_FALSE(a.allows("glm4-9b-chat-1m"));
  EXPECT_FALSE(a.allows("llama-3"));
  EXPECT_TRUE(table->keys()[1].allows("anything/at-all"));
}

TEST(KeyTable, StateIsKeptByNameAcrossRebuildsAndIdsStayTheSame) {
  KeyRegistry registry;
  const auto first = build_key_table(two_keys(), registry);
  first->keys()[0].state->inflight = 3;
  auto changed = two_keys();
  changed.keys[0].limits.requestsPerMinute = 10;
  changed.keys.pop_back();
  const auto second = build_key_table(changed, registry);
  EXPECT_EQ(second->keys()[0].state, first->keys()[0].state);
  EXPECT_EQ(second->keys()[0].id, first->keys()[0].id);
  EXPECT_NE(first->keys()[0].id, first->keys()[1].id);
}

TEST(KeyTable, NoAuthSectionNoTable) {
  KeyRegistry registry;
  EXPECT_FALSE(build_key_table(config::Auth{}, registry));
}

}  // namespace
}  // namespace modelgate::tenancy
