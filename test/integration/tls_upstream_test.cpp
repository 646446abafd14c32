// https:// servers, end to end: a second modelgate with a TLS entry point in front of a sim is the
// https server. Verified against the test CA (requests, health checks and model discovery go
// over TLS), refused with a clear error when the CA is not trusted, and a client certificate
// presented when a serversTransport names one (`openssl s_server -Verify` insists on it).
#include <gtest/gtest.h>

#include <regex>

#include "support/gateway_process.h"
#include "support/http_client.h"
#include "support/sim_process.h"
#include "support/tls_files.h"

namespace mt = modelgate::test;
using namespace std::chrono_literals;

namespace {

// The https server: a modelgate TLS entry point in front of `sim`.
std::string https_front(const mt::TlsFiles& f, const mt::SimProcess& sim) {
  return "entryPoints:\n"
         "  websecure: {address: \"127.0.0.1:0\", http: {tls: {}}}\n"
         "admin: {enabled: false}\n"
         "tls:\n"
         "  certificates: [{certFile: " + f.cert + ", keyFile: " + f.key + "}]\n"
         "http:\n"
         "  routers: {all: {rule: \"PathPrefix(`/`)\", service: pool}}\n"
         "  services:\n"
         "    pool: {loadBalancer: {servers: [{url: \"http://" + sim.address() + "\"}]}}\n";
}

// A plain gateway whose one server is `url`, reached through serversTransport `t` (`transport`
// is its YAML body), with `lb_extra` under loadBalancer.
std::string via_https(const std::string& url, const std::string& transport, const std::string& lb_extra = "") {
  return "entryPoints:\n"
         "  web: {address: \"127.0.0.1:0\"}\n"
         "admin: {enabled: false}\n"
         "http:\n"
         "  serversTransports:\n"
         "    t: " + transport + "\n"
         "  routers: {all: {rule: \"PathPrefix(`/`)\", service: pool}}\n"
         "  services:\n"
         "    pool:\n"
         "      loadBalancer:\n"
         "        serversTransport: t\n"
         "        retry: {attempts: 1}\n"
         "        servers: [{url: \"" + url + "\"}]\n" + lb_extra;
}

std::string chat() {
  return R"({"model":"glm4-9b-chat","max_tokens":2,"messages":[{"role":"user","content":"hi"}]})";
}

}  // namespace

TEST(TlsUpstream, VerifiedAgainstTheTestCaForRequestsHealthAndDiscovery) {
  const auto files = mt::make_tls_files();
  mt::SimProcess sim("s0", {"--models", "glm4-9b-chat"});
  mt::GatewayProcess front(https_front(files, sim));
  const std::string url = "https://localhost:" + std::to_string(front.port("websecure"));
  mt::GatewayProcess gw(via_https(url, "{rootCAs: [" + files.ca + "]}",
                                  "        healthCheck: {path: /v1/models, interval: 200ms, rise: 1, fall: 1}\n"
                                  "        discoverModels: {interval: 200ms}\n"));
  mt::HttpClient client("127.0.0.1", gw.port("web"));
  auto r = client.post_json("/v1/chat/completions", chat());
  EXPECT_EQ(r.status, 200) << r.body << r.error << gw.process().output();
  // Discovery polled /v1/models over TLS: the catalogue lists the sim's model.
  auto models = client.get("/v1/models");
  EXPECT_NE(models.body.find("glm4-9b-chat"), std::string::npos) << models.body;
  // Health checks go over TLS too: one failed check would mark the server down (fall: 1).
  EXPECT_FALSE(gw.process().wait_for_line(std::regex("is unhealthy"), 1500ms)) << gw.process().output();
  EXPECT_EQ(client.post_json("/v1/chat/completions", chat()).status, 200);
}

TEST(TlsUpstream, UntrustedCaIsRefusedWithAClearError) {
  const auto files = mt::make_tls_files();
  mt::SimProcess sim("s0", {"--models", "glm4-9b-chat"});
  mt::GatewayProcess front(https_front(files, sim));
  const std::string url = "https://127.0.0.1:" + std::to_string(front.port("websecure"));
  mt::GatewayProcess gw(via_https(url, "{rootCAs: [" + files.other_ca + "]}"));
  mt::HttpClient client("127.0.0.1", gw.port("web"));
  auto r = client.post_json("/v1/chat/completions", chat());
  EXPECT_EQ(r.status, 502) << r.body;
  EXPECT_NE(r.body.find("TLS handshake"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("certificate verify failed"), std::string::npos) << r.body;
  EXPECT_NE(r.body.find("rootCAs"), std::string::npos) << r.body;
}

TEST(TlsUpstream, InsecureSkipVerifyAcceptsAnyCertificate) {
  const auto files = mt::make_tls_files();
  mt::SimProcess sim("s0", {"--models", "glm4-9b-chat"});
  mt::GatewayProcess front(https_front(files, sim));
  const std::string url = "https://127.0.0.1:" + std::to_string(front.port("websecure"));
  mt::GatewayProcess gw(via_https(url, "{insecureSkipVerify: true}"));
  mt::HttpClient client("127.0.0.1", gw.port("web"));
  EXPECT_EQ(client.post_json("/v1/chat/completions", chat()).status, 200);
}

TEST(TlsUpstream, ClientCertificateIsPresentedWhenConfigured) {
  const auto files = mt::make_tls_files();
  const auto port = mt::free_port();
  // -Verify 1: a client without a certificate signed by the CA fails the handshake.
  mt::Process server("openssl", {"s_server", "-accept", "127.0.0.1:" + std::to_string(port), "-cert", files.cert,
                                 "-key", files.key, "-CAfile", files.ca, "-Verify", "1", "-www"});
  ASSERT_TRUE(server.wait_for_line(std::regex("ACCEPT"), 5s)) << server.output();
  const std::string url = "https://127.0.0.1:" + std::to_string(port);
  const std::string trust = "rootCAs: [" + files.ca + "]";
  {
    mt::GatewayProcess gw(via_https(url, "{" + trust + ", certificates: [{certFile: " + files.client_cert +
                                             ", keyFile: " + files.client_key + "}]}"));
    mt::HttpClient client("127.0.0.1", gw.port("web"));
    auto r = client.get("/");
    EXPECT_EQ(r.status, 200) << r.body << server.output();
  }
  {
    mt::GatewayProcess gw(via_https(url, "{" + trust + "}"));
    mt::HttpClient client("127.0.0.1", gw.port("web"));
    EXPECT_EQ(client.get("/").status, 502);
  }
}
