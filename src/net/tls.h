// TLS contexts (OpenSSL through asio::ssl): the gateway's certificates for its entry points, and
// the client side for https servers.
//
// Server side (ServerTls): one SSL_CTX per certificate, each restricted to TLS 1.2 and 1.3 and to
// ALPN "http/1.1" (RFC 7301: a client that offers only other protocols gets no ALPN answer). The
// handshake starts on the default certificate's context; the SNI callback (RFC 6066 section 3)
// moves it to the certificate whose SAN DNS names (or, with none, the subject CN) match the name
// the client asked for: an exact name first, then a wildcard "*.example.com" for one label
// (RFC 6125 section 6.4.3). No match keeps the default. A ServerTls is immutable; a new one is
// built when a certificate file changes (tls_store.h), and a connection keeps the one it began with.
//
// Client side (ClientTls): verification on by default, against the system CAs or the files of
// serversTransports.<n>.rootCAs; the name checked (and sent as SNI, unless it is an IP address)
// is the server's host, or serverName when set; an optional client certificate;
// insecureSkipVerify as Traefik has it (no check at all).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ssl/context.hpp>

namespace modelgate::net {

struct CertificateFiles {
  std::string certFile;
  std::string keyFile;
  bool operator==(const CertificateFiles&) const = default;
};

// Loads a certificate and its key into `ctx`; on failure an error that names the file and says
// what is wrong with it (empty: loaded).
std::string load_certificate(boost::asio::ssl::context& ctx, const CertificateFiles& files);

// The DNS names a certificate file's first certificate is for (SAN, else CN); empty on failure.
std::vector<std::string> certificate_names(const std::string& cert_file);

// True when `name` (lower case) is matched by `pattern` (a certificate name, maybe "*.x.y").
bool name_matches(std::string_view pattern, std::string_view name);

class ServerTls {
 public:
  // The first of `certs` is the default. Null with `error` set (naming the file) when one cannot
  // be loaded.
  static std::shared_ptr<const ServerTls> load(const std::vector<CertificateFiles>& certs, std::string& error);
  ~ServerTls();

  // The context a new connection's handshake starts with.
  boost::asio::ssl::context& context() const { return *entries_.front().ctx; }
  // The certificate's context chosen for a server name (the default when none matches).
  boost::asio::ssl::context& context_for(std::string_view server_name) const;

 private:
  struct Entry {
    std::unique_ptr<boost::asio::ssl::context> ctx;
    std::vector<std::string> names;  // lower case
  };
  std::vector<Entry> entries_;
};

struct ClientTlsOptions {
  std::vector<std::string> rootCAs;               // PEM files; empty: the system's CAs
  std::vector<CertificateFiles> certificates;     // a client certificate (the first is used)
  bool insecureSkipVerify = false;
  std::string serverName;                         // the name verified and sent as SNI ("" = host)
};

class ClientTls {
 public:
  static std::shared_ptr<const ClientTls> make(const ClientTlsOptions& options, std::string& error);

  boost::asio::ssl::context& context() const { return *ctx_; }
  // Sets SNI and the name verification on a new connection's SSL object, for server `host`.
  void prepare(void* ssl, const std::string& host) const;
  bool verifies() const { return !insecure_; }

 private:
  std::unique_ptr<boost::asio::ssl::context> ctx_;
  std::string server_name_;
  bool insecure_ = false;
};

// Why a TLS handshake on `ssl` failed, for a log line or a 502: OpenSSL's reason and, for a
// certificate that was not verified, the verification error.
std::string handshake_error(void* ssl, const boost::system::error_code& ec);

}  // namespace modelgate::net
