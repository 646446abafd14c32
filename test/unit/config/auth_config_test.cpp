// The `auth` section: keys inline and in auth.keysFile, hashed when read, and every mistake in
// them reported at its FILE:LINE:COL (a duplicate name or secret, a bad glob, a bad sha256), and
// the limits store's URL and failure policy.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <gtest/gtest.h>

#include "config/loader.h"
#include "text/sha256.h"

namespace modelgate::config {
namespace {

constexpr std::string_view kBase = "entryPoints:\n  web:\n    address: \":8080\"\n";

LoadResult load(std::string_view auth) { return load_text(std::string(kBase) + std::string(auth), "main.yaml"); }

std::string all(const LoadResult& r) {
  std::string out;
  for (const auto& d : r.diagnostics) out += d.str() + "\n";
  return out;
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::path(testing::TempDir()) / name).lexically_normal().string();
}

std::string write_temp(const std::string& name, const std::string& text) {
  const std::string path = temp_path(name);
  std::ofstream(path) << text;
  return path;
}

TEST(AuthConfig, InlineKeysAreHashedWithTheirModelsPriorityAndLimits) {
  const LoadResult r = load(
      "auth:\n"
      "  keys:\n"
      "    - name: team-a\n"
      "      key: sk-team-a-1\n"
      "      models: [\"Qwen*\", glm4-9b-chat]\n"
      "      priority: interactive\n"
      "      limits: {requestsPerMinute: 600, tokensPerMinute: 200000, tokensPerDay: 5000000, "
      "tokensPerMonth: 90000000000, concurrency: 20}\n"
      "    - name: team-b\n"
      "      sha256: " + text::sha256_hex(text::sha256("sk-b")) + "\n");
  ASSERT_TRUE(r.config) << all(r);
  const Auth& a = r.config->auth;
  ASSERT_TRUE(a.enabled);
  ASSERT_EQ(a.keys.size(), 2u);
  EXPECT_EQ(a.keys[0].name, "team-a");
  EXPECT_EQ(a.keys[0].digest, text::sha256("sk-team-a-1"));
  EXPECT_EQ(a.keys[0].models, (std::vector<std::string>{"Qwen*", "glm4-9b-chat"}));
  EXPECT_EQ(a.keys[0].priority, Priority::interactive);
  EXPECT_EQ(a.keys[0].limits, (KeyLimits{600, 200000, 5000000, 90000000000ull, 20}));
  EXPECT_EQ(a.keys[1].digest, text::sha256("sk-b"));
  EXPECT_EQ(a.keys[1].priority, Priority::normal);
  EXPECT_TRUE(a.keys[1].models.empty());
}

TEST(AuthConfig, NoAuthSectionMeansNoKeysChecked) {
  const LoadResult r = load("");
  ASSERT_TRUE(r.config) << all(r);
  EXPECT_FALSE(r.config->auth.enabled);
}

TEST(AuthConfig, MistakesInInlineKeysAreReportedAtTheirPlace) {
  const LoadResult r = load(
      "auth:\n"                                       // line 4
      "  keys:\n"                                     // 5
      "    - {name: a, key: sk-1}\n"                  // 6
      "    - {name: a, key: sk-2}\n"                  // 7
      "    - {name: c, key: sk-1}\n"                  // 8
      "    - {name: d, sha256: abc}\n"                // 9
      "    - {name: e, key: sk-5, priority: urgent}\n"  // 10
      "    - {name: f, key: \"has space\"}\n"         // 11
      "    - {name: g}\n"                             // 12
      "    - {name: h, key: sk-8, limits: {requestsPerMinute: -1}}\n"  // 13
      "    - {name: i, key: sk-9, models: [\"Qwen[\"]}\n");           // 14
  EXPECT_FALSE(r.config);
  const std::string text = all(r);
  EXPECT_NE(text.find("main.yaml:14:"), std::string::npos) << text;
  EXPECT_NE(text.find("bad glob \"Qwen[\""), std::string::npos) << text;
  EXPECT_NE(text.find("main.yaml:7:7: error: auth.keys: the name \"a\" is already used by the key at main.yaml:6:7"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("main.yaml:8:7: error: auth.keys: key \"c\" has the same secret as key \"a\""), std::string::npos)
      << text;
  EXPECT_NE(text.find("main.yaml:9:"), std::string::npos) << text;
  EXPECT_NE(text.find("64 hex digits"), std::string::npos) << text;
  EXPECT_NE(text.find("unknown priority \"urgent\""), std::string::npos) << text;
  EXPECT_NE(text.find("visible ASCII"), std::string::npos) << text;
  EXPECT_NE(text.find("neither \"key\" nor \"sha256\""), std::string::npos) << text;
  EXPECT_NE(text.find("main.yaml:13:"), std::string::npos) << text;
}

TEST(AuthConfig, AStoreUrlGivesHostPortDatabasePasswordAndPolicy) {
  const LoadResult r = load("auth:\n  store: \"redis://:s3cret@10.0.0.5:6380/2\"\n  storeFailure: failClosed\n");
  ASSERT_TRUE(r.config) << all(r);
  ASSERT_TRUE(r.config->auth.store);
  const LimitsStore& st = *r.config->auth.store;
  EXPECT_EQ(st.host, "10.0.0.5");
  EXPECT_EQ(st.port, 6380);
  EXPECT_EQ(st.db, 2u);
  EXPECT_EQ(st.password, "s3cret");
  EXPECT_FALSE(st.failOpen);
  EXPECT_EQ(st.url.find("s3cret"), std::string::npos) << st.url;  // never shown

  const LoadResult plain = load("auth:\n  store: redis://127.0.0.1\n");
  ASSERT_TRUE(plain.config) << all(plain);
  EXPECT_EQ(plain.config->auth.store->port, 6379);
  EXPECT_EQ(plain.config->auth.store->db, 0u);
  EXPECT_TRUE(plain.config->auth.store->failOpen);  // the default
}

TEST(AuthConfig, ABadStoreUrlOrPolicyIsReportedAtItsPlace) {
  const LoadResult r = load(
      "auth:\n"                                 // line 4
      "  store: http://127.0.0.1:6379\n"        // 5
      "  storeFailure: failSoft\n");            // 6
  EXPECT_FALSE(r.config);
  const std::string text = all(r);
  EXPECT_NE(text.find("main.yaml:5:10: error: auth.store: expected a URL such as redis://127.0.0.1:6379"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("main.yaml:6:17: error: auth.storeFailure: unknown policy \"failSoft\""), std::string::npos)
      << text;
  EXPECT_NE(all(load("auth:\n  store: redis://h:99999\n")).find("not a number from 1 to 65535"), std::string::npos);
  EXPECT_NE(all(load("auth:\n  store: redis://h:6379/x\n")).find("the database \"x\""), std::string::npos);
}

TEST(AuthConfig, AnOverlongKeyIsRefused) {
  const LoadResult r = load("auth:\n  keys:\n    - {name: a, key: " + std::string(kMaxKeyBytes + 1, 'k') + "}\n");
  EXPECT_FALSE(r.config);
  EXPECT_NE(all(r).find("at most 256 are allowed"), std::string::npos) << all(r);
}

TEST(AuthConfig, KeysFileIsReadBesideTheMainFileWithItsOwnPlaces) {
  const std::string keys = write_temp("auth_keys_ok.yaml", "keys:\n  - name: b\n    key: sk-b\n");
  const std::string main = write_temp("auth_main.yaml", std::string(kBase) +
                                                            "auth:\n  keysFile: auth_keys_ok.yaml\n  keys:\n"
                                                            "    - {name: a, key: sk-a}\n");
  const LoadResult r = load_file(main);
  ASSERT_TRUE(r.config) << all(r);
  ASSERT_EQ(r.config->auth.keys.size(), 2u);
  EXPECT_EQ(r.config->auth.keys[1].name, "b");
  EXPECT_EQ(r.config->auth.keysFile, keys);
  EXPECT_EQ(r.config->auth.budgetsFile, temp_path("modelgate-budgets.sqlite"));
}

TEST(AuthConfig, ABadKeysFileIsReportedAtItsOwnLineAndColumn) {
  const std::string keys = write_temp("auth_keys_bad.yaml",
                                      "keys:\n  - name: a\n    key: sk-x\n  - name: b\n    key: sk-y\n"
                                      "  - name: c\n    key: sk-z\n    models: [\"[oops\"]\n");
  const std::string main = write_temp("auth_main_bad.yaml", std::string(kBase) +
                                                                "auth:\n  keysFile: auth_keys_bad.yaml\n  keys:\n"
                                                                "    - {name: b, key: sk-b}\n");
  const LoadResult r = load_file(main);
  EXPECT_FALSE(r.config);
  const std::string text = all(r);
  EXPECT_NE(text.find(keys + ":8:"), std::string::npos) << text;
  EXPECT_NE(text.find("never closed"), std::string::npos) << text;
  EXPECT_NE(text.find(keys + ":4:5: error: auth.keys: the name \"b\" is already used by the key at " + main + ":7:7"),
            std::string::npos)
      << text;
}

TEST(AuthConfig, AMissingKeysFileSaysWhereItWasLookedFor) {
  const LoadResult r = load("auth:\n  keysFile: /nonexistent/keys.yaml\n");
  EXPECT_FALSE(r.config);
  EXPECT_NE(all(r).find("main.yaml:5:13: error: auth.keysFile: cannot read the keys file /nonexistent/keys.yaml"),
            std::string::npos)
      << all(r);
}

}  // namespace
}  // namespace modelgate::config
