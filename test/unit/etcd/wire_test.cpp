// etcd's JSON gateway messages (etcd/wire.h) and endpoint parsing, without an etcd: the answers
// below are what etcd 3.4 sends (int64 as strings, zero values left out, base64 bytes).
#include <gtest/gtest.h>

#include "etcd/client.h"
#include "etcd/wire.h"

namespace etcd = modelgate::etcd;
namespace wire = modelgate::etcd::wire;

TEST(EtcdEndpoint, ParsesTheFormsUsersWrite) {
  auto e = etcd::parse_endpoint("127.0.0.1:2379");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->host, "127.0.0.1");
  EXPECT_EQ(e->port, 2379);
  e = etcd::parse_endpoint("http://etcd-1.internal:12379/");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->host, "etcd-1.internal");
  EXPECT_EQ(e->port, 12379);
  e = etcd::parse_endpoint("[::1]:2379");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->host, "::1");
  EXPECT_EQ(e->to_string(), "[::1]:2379");
  e = etcd::parse_endpoint("etcd");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->port, 2379);
  for (const char* bad : {"", ":2379", "h:0", "h:65536", "h:x", "https://h:2379", "h:2379/v3", "::1:2379", "[::1"}) {
    EXPECT_FALSE(etcd::parse_endpoint(bad)) << bad;
  }
}

TEST(EtcdEndpoint, ParsesAListAndNamesTheBadOne) {
  auto list = etcd::parse_endpoints("127.0.0.1:2379, 127.0.0.2:2379");
  ASSERT_TRUE(list);
  ASSERT_EQ(list->size(), 2u);
  EXPECT_EQ((*list)[1].host, "127.0.0.2");
  std::string bad;
  EXPECT_FALSE(etcd::parse_endpoints("127.0.0.1:2379,h:x", &bad));
  EXPECT_EQ(bad, "h:x");
  EXPECT_FALSE(etcd::parse_endpoints(""));
}

TEST(EtcdWire, PrefixEndIsTheFirstKeyAfterThePrefix) {
  EXPECT_EQ(wire::prefix_end("traefik/"), "traefik0");
  EXPECT_EQ(wire::prefix_end("a\xff"), "b");
  EXPECT_EQ(wire::prefix_end(""), std::string(1, '\0'));
  EXPECT_EQ(wire::prefix_end("\xff\xff"), std::string(1, '\0'));
}

TEST(EtcdWire, RequestsCarryKeysInBase64) {
  EXPECT_EQ(wire::range_request("foo/"), R"({"key":"Zm9vLw==","range_end":"Zm9vMA=="})");
  EXPECT_EQ(wire::put_request("k", "v", 0), R"({"key":"aw==","value":"dg=="})");
  EXPECT_EQ(wire::put_request("k", "v", 7), R"({"key":"aw==","value":"dg==","lease":"7"})");
  EXPECT_EQ(wire::watch_request("k", 5), R"({"create_request":{"key":"aw==","range_end":"bA==","start_revision":"5"}})");
  EXPECT_EQ(wire::range_request(""), R"({"key":"AA==","range_end":"AA=="})");
}

TEST(EtcdWire, DecodesARange) {
  const auto r = wire::decode_range(
      R"({"header":{"cluster_id":"1","member_id":"2","revision":"12","raft_term":"2"},)"
      R"("kvs":[{"key":"Zm9vL2E=","create_revision":"2","mod_revision":"9","version":"1","value":"YmFy","lease":"42"},)"
      R"({"key":"Zm9vL2I=","mod_revision":10}]})");
  EXPECT_EQ(r.revision, 12);
  ASSERT_EQ(r.kvs.size(), 2u);
  EXPECT_EQ(r.kvs[0].key, "foo/a");
  EXPECT_EQ(r.kvs[0].value, "bar");
  EXPECT_EQ(r.kvs[0].mod_revision, 9);
  EXPECT_EQ(r.kvs[0].lease, 42);
  EXPECT_EQ(r.kvs[1].value, "");  // an empty value is left out
  EXPECT_EQ(r.kvs[1].mod_revision, 10);
  EXPECT_TRUE(wire::decode_range(R"({"header":{"revision":"3"}})").kvs.empty());
  EXPECT_THROW(wire::decode_range("404 page not found"), wire::DecodeError);
  EXPECT_THROW(wire::decode_range(R"({"kvs":[{"key":"not base64!"}]})"), wire::DecodeError);
}

TEST(EtcdWire, DecodesLeases) {
  EXPECT_EQ(wire::decode_lease_grant(R"({"header":{},"ID":"4111120377757291272","TTL":"5"})"), 4111120377757291272);
  EXPECT_EQ(wire::decode_keep_alive(R"({"result":{"header":{},"ID":"1","TTL":"10"}})"), 10);
  EXPECT_EQ(wire::decode_keep_alive("{\"result\":{\"header\":{},\"ID\":\"1\"}}\n"), 0);  // gone: no TTL
}

TEST(EtcdWire, DecodesWatchMessages) {
  auto m = wire::decode_watch(R"({"result":{"header":{"revision":"4"},"created":true}})");
  EXPECT_TRUE(m.created);
  EXPECT_TRUE(m.events.empty());
  m = wire::decode_watch(
      R"({"result":{"header":{"revision":"4"},"events":[{"kv":{"key":"YQ==","mod_revision":"3","value":"eA=="}},)"
      R"({"type":"DELETE","kv":{"key":"Yg==","mod_revision":"4"}}]}})");
  EXPECT_EQ(m.revision, 4);
  ASSERT_EQ(m.events.size(), 2u);
  EXPECT_EQ(m.events[0].type, etcd::WatchEvent::Type::put);
  EXPECT_EQ(m.events[0].kv.value, "x");
  EXPECT_EQ(m.events[1].type, etcd::WatchEvent::Type::remove);
  EXPECT_EQ(m.events[1].kv.key, "b");
  m = wire::decode_watch(R"({"result":{"header":{"raft_term":"2"},"canceled":true,"compact_revision":"3"}})");
  EXPECT_TRUE(m.canceled);
  EXPECT_EQ(m.compact_revision, 3);
  m = wire::decode_watch(R"({"error":{"grpc_code":14,"http_code":503,"message":"etcdserver: no leader"}})");
  EXPECT_EQ(m.error, "etcdserver: no leader");
}

TEST(EtcdWire, ErrorMessageOfAnAnswer) {
  EXPECT_EQ(wire::error_message(R"({"error":"x","message":"etcdserver: requested lease not found","code":5})"),
            "etcdserver: requested lease not found");
  EXPECT_EQ(wire::error_message("404 page not found\n"), "404 page not found");
  EXPECT_EQ(wire::error_message(""), "(empty answer)");
}
