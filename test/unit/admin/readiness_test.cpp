// The readiness verdict of GET /ready (admin/readiness.h), one case per rule, over plain values.
#include <gtest/gtest.h>

#include "admin/readiness.h"

namespace ma = modelgate::admin;

namespace {

ma::ServerInfo server(bool healthy = true) {
  ma::ServerInfo s;
  s.url = "http://10.0.0.1:8000";
  s.healthy = healthy;
  return s;
}

const std::vector<ma::EntryPointInfo> kListening = {{"web", "0.0.0.0:8080"}};

}  // namespace

TEST(Readiness, ListeningWithAUsableServerIsReady) {
  ma::ServiceInfo dead{"a", "round_robin", {server(false)}, {}, {}};
  ma::ServiceInfo live{"b", "round_robin", {server(false), server()}, {}, {}};
  auto r = ma::readiness({}, kListening, {dead, live});
  EXPECT_TRUE(r.ready) << r.reason;
  EXPECT_EQ(r.usable_servers, 1);
  EXPECT_EQ(r.servers, 3);
  EXPECT_EQ(ma::readiness_json(r, {}).find("reason"), std::string::npos);
}

TEST(Readiness, DrainingIsNotReadyWhateverElse) {
  ma::StatusInfo status;
  status.draining = true;
  auto r = ma::readiness(status, kListening, {{"a", "round_robin", {server()}, {}, {}}});
  EXPECT_FALSE(r.ready);
  EXPECT_NE(r.reason.find("draining"), std::string::npos);
  EXPECT_NE(ma::readiness_json(r, status).find("\"draining\":true"), std::string::npos);
}

TEST(Readiness, NoEntryPointIsNotReady) {
  auto r = ma::readiness({}, {}, {{"a", "round_robin", {server()}, {}, {}}});
  EXPECT_FALSE(r.ready);
  EXPECT_NE(r.reason.find("no entry point"), std::string::npos);
}

TEST(Readiness, DownEjectedDrainingOrWeightZeroServersAreNotUsable) {
  auto ejected = server(), draining = server(), weightless = server();
  ejected.ejected = true;
  draining.draining = true;
  weightless.weight = 0;
  auto r = ma::readiness({}, kListening, {{"a", "round_robin", {server(false), ejected, draining, weightless}, {}, {}}});
  EXPECT_FALSE(r.ready);
  EXPECT_EQ(r.usable_servers, 0);
  EXPECT_NE(r.reason.find("no usable server"), std::string::npos);
}

TEST(Readiness, NoServicesAtAllIsReady) {
  EXPECT_TRUE(ma::readiness({}, kListening, {}).ready);  // nothing that could be unusable
}
