// TLS on an entry point, end to end, with certificates made at test time by `openssl`: the real
// `curl --cacert` and `openssl s_client` (protocol versions, ALPN, SNI), a certificate file
// replaced under a keep-alive connection, and bad certificate files at start and on reload.
#include <gtest/gtest.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <thread>

#include "support/capture_server.h"
#include "support/gateway_process.h"
#include "support/sim_process.h"
#include "support/sim_stats.h"
#include "support/wait.h"
#include "support/tls_files.h"

namespace mt = modelgate::test;
using namespace std::chrono_literals;

namespace {

// A TLS entry point `websecure` and a plain one `web`, both in front of `sim`.
std::string tls_config(const mt::TlsFiles& f, const mt::SimProcess& sim, const std::string& extra = "") {
  return "entryPoints:\n"
         "  web: {address: \"127.0.0.1:0\"}\n"
         "  websecure:\n"
         "    address: \"127.0.0.1:0\"\n"
         "    http:\n"
         "      tls: {}\n"
         "tls:\n"
         "  certificates:\n"
         "    - certFile: " + f.cert + "\n"
         "      keyFile: " + f.key + "\n"
         "    - certFile: " + f.cert_b + "\n"
         "      keyFile: " + f.key_b + "\n" + extra +
         "http:\n"
         "  routers:\n"
         "    all: {rule: \"PathPrefix(`/`)\", service: pool}\n"
         "  services:\n"
         "    pool:\n"
         "      loadBalancer:\n"
         "        servers: [{url: \"http://" + sim.address() + "\"}]\n";
}

std::string https_url(std::uint16_t port, const std::string& host = "localhost") {
  return "https://" + host + ":" + std::to_string(port) + "/v1/models";
}

// `openssl s_client` against the gateway: its exit code and what it printed.
mt::CommandResult s_client(std::uint16_t port, std::vector<std::string> extra) {
  std::vector<std::string> args = {"s_client", "-connect", "127.0.0.1:" + std::to_string(port)};
  args.insert(args.end(), extra.begin(), extra.end());
  return mt::run_command("openssl", args, "Q\n");
}

using mt::served_cn;

mt::CommandResult curl(const std::vector<std::string>& extra) {
  std::vector<std::string> args = {"-sS", "--max-time", "10", "-o", "/dev/null", "-w", "%{http_code}"};
  args.insert(args.end(), extra.begin(), extra.end());
  return mt::run_command("curl", args);
}

// Test certificates, a sim, and a gateway with the TLS entry point `websecure` in front of it.
struct TlsGateway {
  mt::TlsFiles files = mt::make_tls_files();
  mt::SimProcess sim{"s0"};
  mt::GatewayProcess gw;
  std::uint16_t port;
  // `extra`: more of the tls section, written with the files' names.
  explicit TlsGateway(const std::function<std::string(const mt::TlsFiles&)>& extra = {})
      : gw(tls_config(files, sim, extra ? extra(files) : "")), port(gw.port("websecure")) {}
};

}  // namespace

TEST(Tls, CurlWithTheCaGetsAnAnswerOverHttps) {
  TlsGateway t;
  const auto& files = t.files;
  auto& gw = t.gw;
  const auto port = t.port;
  auto ok = curl({"--cacert", files.ca, https_url(port)});
  EXPECT_EQ(ok.output, "200") << ok.output << gw.process().output();
  // The plain entry point stays plain.
  auto plain = curl({"http://127.0.0.1:" + std::to_string(gw.port("web")) + "/v1/models"});
  EXPECT_EQ(plain.output, "200") << plain.output;
  // Without the CA, curl refuses the certificate: it is the test CA's, not a public one.
  auto untrusted = curl({https_url(port)});
  EXPECT_NE(untrusted.code, 0) << untrusted.output;
}

TEST(Tls, OnlyTls12And13AreAcceptedWithAlpnHttp11) {
  TlsGateway t;
  const auto& files = t.files;
  const auto port = t.port;
  // SECLEVEL=0 lets this openssl offer TLS 1.1 at all: the refusal must be the gateway's. The
  // version is read from the "New, TLSv1.x, Cipher is" line: the session block that also names it
  // comes, with TLS 1.3, only once a session ticket arrived, which s_client may quit before.
  auto v11 = s_client(port, {"-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"});
  EXPECT_NE(v11.code, 0) << v11.output;
  auto v12 = s_client(port, {"-tls1_2", "-CAfile", files.ca});
  EXPECT_EQ(v12.code, 0) << v12.output;
  EXPECT_TRUE(std::regex_search(v12.output, std::regex(R"(New, TLSv1\.2,)"))) << v12.output;
  auto v13 = s_client(port, {"-tls1_3", "-CAfile", files.ca, "-alpn", "h2,http/1.1"});
  EXPECT_EQ(v13.code, 0) << v13.output;
  EXPECT_TRUE(std::regex_search(v13.output, std::regex(R"(New, TLSv1\.3,)"))) << v13.output;
  EXPECT_NE(v13.output.find("ALPN protocol: http/1.1"), std::string::npos) << v13.output;
}

TEST(Tls, SniPicksTheCertificateByItsNames) {
  TlsGateway t;
  const auto& files = t.files;
  const auto port = t.port;
  EXPECT_EQ(served_cn(port, "b.test"), "b.test");
  EXPECT_EQ(served_cn(port, "x.wild.test"), "b.test");      // *.wild.test
  EXPECT_EQ(served_cn(port, "a.test"), "localhost");        // a SAN of the first
  EXPECT_EQ(served_cn(port, "unknown.example"), "localhost");  // no match: the default
  EXPECT_EQ(served_cn(port, "a.b.wild.test"), "localhost");  // a wildcard covers one label
  // curl checks the name it asked for against the certificate it got.
  auto b = curl({"--cacert", files.ca, "--resolve", "b.test:" + std::to_string(port) + ":127.0.0.1",
                 https_url(port, "b.test")});
  EXPECT_EQ(b.output, "200") << b.output;
}

TEST(Tls, DefaultCertificateOfTheDefaultStoreComesFirst) {
  TlsGateway t([](const mt::TlsFiles& f) {
    return "  stores:\n    default:\n      defaultCertificate:\n        certFile: " + f.cert_b +
           "\n        keyFile: " + f.key_b + "\n";
  });
  EXPECT_EQ(served_cn(t.port, "unknown.example"), "b.test");
  EXPECT_EQ(served_cn(t.port, "localhost"), "localhost");
}

namespace {

namespace asio = boost::asio;
namespace http = boost::beast::http;

// A keep-alive HTTPS connection held by the test, verifying against `ca`.
struct TlsConnection {
  asio::io_context io;
  asio::ssl::context ctx{asio::ssl::context::tls_client};
  asio::ssl::stream<asio::ip::tcp::socket> stream{io, ctx};
  boost::beast::flat_buffer buffer;

  TlsConnection(std::uint16_t port, const std::string& ca) {
    ctx.load_verify_file(ca);
    stream.set_verify_mode(asio::ssl::verify_peer);
    SSL_set_tlsext_host_name(stream.native_handle(), "localhost");
    stream.next_layer().connect({asio::ip::make_address("127.0.0.1"), port});
    stream.handshake(asio::ssl::stream_base::client);
  }
  int get() {
    http::request<http::empty_body> req{http::verb::get, "/v1/models", 11};
    req.set(http::field::host, "localhost");
    boost::system::error_code ec;
    http::write(stream, req, ec);
    if (ec) return 0;
    http::response<http::string_body> res;
    http::read(stream, buffer, res, ec);
    return ec ? 0 : res.result_int();
  }
  std::string peer_cn() {
    X509* cert = SSL_get1_peer_certificate(stream.native_handle());
    char cn[256] = {};
    X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn);
    X509_free(cert);
    return cn;
  }
};

}  // namespace

TEST(Tls, ReplacedCertificateServesNewHandshakesWhileOpenConnectionsGoOn) {
  TlsGateway t;
  const auto& files = t.files;
  auto& gw = t.gw;
  const auto port = t.port;
  TlsConnection open(port, files.ca);
  ASSERT_EQ(open.get(), 200);
  EXPECT_EQ(open.peer_cn(), "localhost");

  mt::issue_certificate(files, "localhost-renewed", {"localhost", "IP:127.0.0.1"}, files.cert, files.key);
  std::string cn;
  for (int i = 0; i < 50 && (cn = served_cn(port, "localhost")) != "localhost-renewed"; ++i) std::this_thread::sleep_for(100ms);
  EXPECT_EQ(cn, "localhost-renewed") << gw.process().output();
  // The connection opened before goes on, on its handshake's certificate.
  EXPECT_EQ(open.get(), 200);
  EXPECT_EQ(open.get(), 200);
  auto fresh = curl({"--cacert", files.ca, https_url(port)});
  EXPECT_EQ(fresh.output, "200") << fresh.output;
}

TEST(Tls, BadCertificateOnReloadKeepsTheRunningOne) {
  TlsGateway t;
  const auto& files = t.files;
  auto& gw = t.gw;
  const auto port = t.port;
  std::ofstream(files.cert, std::ios::trunc) << "not a certificate\n";
  auto logged = gw.process().wait_for_line(std::regex("certificate reload failed: .*" + files.cert), 5s);
  EXPECT_TRUE(logged) << gw.process().output();
  EXPECT_EQ(served_cn(port, "localhost"), "localhost");
  auto ok = curl({"--cacert", files.ca, https_url(port)});
  EXPECT_EQ(ok.output, "200") << ok.output;
}

TEST(Tls, BadCertificateAtStartIsRefusedNamingTheFile) {
  const auto files = mt::make_tls_files();
  mt::SimProcess sim("s0");
  std::ofstream(files.cert, std::ios::trunc) << "not a certificate\n";
  const std::string path = mt::temp_dir() + "/bad.yaml";
  std::ofstream(path) << tls_config(files, sim);
  mt::Process serve(MODELGATE_BIN, {"serve", "--config", path});
  const auto code = serve.wait(10s);
  ASSERT_TRUE(code);
  EXPECT_NE(*code, 0);
  // file:line:col of the certFile, the file named, and what is wrong with it.
  EXPECT_TRUE(std::regex_search(serve.output(), std::regex(path + ":9:\\d+: .*" + files.cert + ".*not a PEM certificate")))
      << serve.output();
  // A missing key file is named as well.
  std::filesystem::remove(files.key_b);
  mt::Process again(MODELGATE_BIN, {"serve", "--config", path});
  ASSERT_TRUE(again.wait(10s));
  EXPECT_NE(again.output().find("cannot read \"" + files.key_b + "\""), std::string::npos) << again.output();
}

// The hang-up watch reads the TLS stream while the server works: a client that leaves still
// cancels the generation (one read at a time on the SSL stream, then its close reaches the server).
TEST(Tls, ClientThatLeavesCancelsTheGenerationOverTls) {
  const auto files = mt::make_tls_files();
  mt::SimProcess sim("s0", {"--ttft-ms", "3000"});
  mt::GatewayProcess gw(tls_config(files, sim));
  const std::string body = R"({"model":"Qwen2.5-0.5B-Instruct","max_tokens":4,"messages":[{"role":"user","content":"hi"}]})";
  auto r = curl({"--cacert", files.ca, "--max-time", "1", "-H", "Content-Type: application/json", "-d", body,
                 "https://localhost:" + std::to_string(gw.port("websecure")) + "/v1/chat/completions"});
  EXPECT_NE(r.code, 0) << "expected curl to give up first: " << r.output;
  EXPECT_TRUE(mt::wait_until([&] { return mt::sim_stat(sim.port(), "aborted") >= 1; }, 1500ms))
      << "the sim kept generating for a TLS client that left; gateway output:\n" << gw.process().output();
}

TEST(Tls, ServersAndMiddlewaresKnowTheRequestCameOverTls) {
  mt::TlsFiles files = mt::make_tls_files();
  mt::CaptureServer server;
  mt::GatewayProcess gw("entryPoints:\n"
                        "  web: {address: \"127.0.0.1:0\"}\n"
                        "  websecure: {address: \"127.0.0.1:0\", http: {tls: {}}}\n"
                        "tls:\n"
                        "  certificates: [{certFile: " + files.cert + ", keyFile: " + files.key + "}]\n"
                        "http:\n"
                        "  middlewares:\n"
                        "    to-https: {redirectScheme: {scheme: https}}\n"
                        "  routers:\n"
                        "    all: {rule: \"PathPrefix(`/`)\", service: s, middlewares: [to-https]}\n"
                        "  services:\n"
                        "    s: {loadBalancer: {servers: [{url: \"http://127.0.0.1:" +
                        std::to_string(server.port()) + "\"}]}}\n");
  // Over TLS the request is already where redirectScheme wants it, and the server is told so.
  auto secure = curl({"--cacert", files.ca, "https://localhost:" + std::to_string(gw.port("websecure")) + "/a"});
  EXPECT_EQ(secure.output, "200") << secure.output << gw.process().output();
  EXPECT_NE(server.last_head().find("\r\nX-Forwarded-Proto: https\r\n"), std::string::npos) << server.last_head();
  // In clear text it is sent to https.
  auto plain = curl({"http://127.0.0.1:" + std::to_string(gw.port("web")) + "/a"});
  EXPECT_EQ(plain.output, "302") << plain.output;
  EXPECT_EQ(server.requests(), 1);
}
