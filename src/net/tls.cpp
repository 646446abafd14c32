// See tls.h. The OpenSSL calls asio::ssl does not wrap (SNI, ALPN, names of a certificate,
// verification parameters) are made directly on the native handles.
#include "net/tls.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

#include <boost/asio/ip/address.hpp>
#include <fmt/format.h>

namespace modelgate::net {

namespace ssl = boost::asio::ssl;

namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

// "" when `path` can be opened for reading, else why not.
std::string unreadable(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return std::strerror(errno);
  std::fclose(f);
  return {};
}

std::string openssl_reason(const boost::system::error_code& ec) {
  if (ec.category() == boost::asio::error::get_ssl_category()) {
    const char* reason = ERR_reason_error_string(static_cast<unsigned long>(ec.value()));
    if (reason) return reason;
  }
  return ec.message();
}

constexpr unsigned char kAlpnHttp11[] = {8, 'h', 't', 't', 'p', '/', '1', '.', '1'};

int select_alpn(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                unsigned int inlen, void*) {
  unsigned char* chosen = nullptr;
  if (SSL_select_next_proto(&chosen, outlen, kAlpnHttp11, sizeof kAlpnHttp11, in, inlen) !=
      OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;
  }
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

int select_certificate(SSL* ssl, int*, void* arg) {
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  if (!name) return SSL_TLSEXT_ERR_OK;
  const auto& tls = *static_cast<const ServerTls*>(arg);
  ssl::context& ctx = tls.context_for(lower(name));
  if (ctx.native_handle() != SSL_get_SSL_CTX(ssl)) SSL_set_SSL_CTX(ssl, ctx.native_handle());
  return SSL_TLSEXT_ERR_OK;
}

// TLS 1.2 and 1.3 only, no renegotiation, no compression.
void restrict_protocols(ssl::context& ctx) {
  SSL_CTX* native = ctx.native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE);
}

}  // namespace

std::string load_certificate(ssl::context& ctx, const CertificateFiles& files) {
  for (const std::string* path : {&files.certFile, &files.keyFile}) {
    if (path->empty()) return path == &files.certFile ? "certFile is missing" : "keyFile is missing";
    if (auto why = unreadable(*path); !why.empty()) return fmt::format("cannot read \"{}\": {}", *path, why);
  }
  boost::system::error_code ec;
  ctx.use_certificate_chain_file(files.certFile, ec);
  if (ec) return fmt::format("\"{}\" is not a PEM certificate: {}", files.certFile, openssl_reason(ec));
  ctx.use_private_key_file(files.keyFile, ssl::context::pem, ec);
  if (ec) return fmt::format("\"{}\" is not a PEM private key: {}", files.keyFile, openssl_reason(ec));
  if (SSL_CTX_check_private_key(ctx.native_handle()) != 1) {
    ERR_clear_error();
    return fmt::format("the key \"{}\" does not belong to the certificate \"{}\"", files.keyFile, files.certFile);
  }
  return {};
}

std::vector<std::string> certificate_names(const std::string& cert_file) {
  std::vector<std::string> names;
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new_file(cert_file.c_str(), "r"), BIO_free);
  if (!bio) return names;
  std::unique_ptr<X509, decltype(&X509_free)> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr), X509_free);
  ERR_clear_error();
  if (!cert) return names;
  auto* sans = static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert.get(), NID_subject_alt_name, nullptr, nullptr));
  if (sans) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans); ++i) {
      const GENERAL_NAME* n = sk_GENERAL_NAME_value(sans, i);
      if (n->type != GEN_DNS) continue;
      const auto* s = n->d.dNSName;
      names.push_back(lower({reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                             static_cast<std::size_t>(ASN1_STRING_length(s))}));
    }
    GENERAL_NAMES_free(sans);
  }
  if (names.empty()) {  // RFC 6125 6.4.4: the CN only when there is no DNS SAN
    char cn[256];
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert.get()), NID_commonName, cn, sizeof cn) > 0)
      names.push_back(lower(cn));
  }
  return names;
}

bool name_matches(std::string_view pattern, std::string_view name) {
  if (pattern == name) return true;
  if (!pattern.starts_with("*.")) return false;
  const auto dot = name.find('.');
  return dot != std::string_view::npos && dot > 0 && name.substr(dot) == pattern.substr(1);
}

std::shared_ptr<const ServerTls> ServerTls::load(const std::vector<CertificateFiles>& certs, std::string& error) {
  auto tls = std::shared_ptr<ServerTls>(new ServerTls());
  if (certs.empty()) {
    error = "no certificate is configured, add tls.certificates: [{certFile: ..., keyFile: ...}]";
    return nullptr;
  }
  static constexpr unsigned char kSessionContext[] = "modelgate";
  for (const auto& files : certs) {
    auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
    restrict_protocols(*ctx);
    if (auto why = load_certificate(*ctx, files); !why.empty()) {
      error = std::move(why);
      return nullptr;
    }
    SSL_CTX* native = ctx->native_handle();
    SSL_CTX_set_alpn_select_cb(native, select_alpn, nullptr);
    SSL_CTX_set_tlsext_servername_callback(native, select_certificate);
    SSL_CTX_set_tlsext_servername_arg(native, tls.get());
    // Session resumption works across the certificates' contexts (SNI may switch them).
    SSL_CTX_set_session_id_context(native, kSessionContext, sizeof kSessionContext - 1);
    tls->entries_.push_back({std::move(ctx), certificate_names(files.certFile)});
  }
  return tls;
}

ServerTls::~ServerTls() = default;

ssl::context& ServerTls::context_for(std::string_view server_name) const {
  for (const auto& e : entries_)
    for (const auto& n : e.names)
      if (n == server_name) return *e.ctx;
  for (const auto& e : entries_)
    for (const auto& n : e.names)
      if (name_matches(n, server_name)) return *e.ctx;
  return *entries_.front().ctx;
}

std::shared_ptr<const ClientTls> ClientTls::make(const ClientTlsOptions& options, std::string& error) {
  auto tls = std::make_shared<ClientTls>();
  tls->ctx_ = std::make_unique<ssl::context>(ssl::context::tls_client);
  auto& ctx = *tls->ctx_;
  restrict_protocols(ctx);
  SSL_CTX_set_alpn_protos(ctx.native_handle(), kAlpnHttp11, sizeof kAlpnHttp11);
  tls->insecure_ = options.insecureSkipVerify;
  tls->server_name_ = options.serverName;
  boost::system::error_code ec;
  if (options.insecureSkipVerify) {
    ctx.set_verify_mode(ssl::verify_none);
  } else {
    ctx.set_verify_mode(ssl::verify_peer);
    if (options.rootCAs.empty()) {
      ctx.set_default_verify_paths(ec);
      if (ec) {
        error = fmt::format("cannot load the system's CA certificates: {}", openssl_reason(ec));
        return nullptr;
      }
    }
    for (const auto& ca : options.rootCAs) {
      if (auto why = unreadable(ca); !why.empty()) {
        error = fmt::format("cannot read the CA file \"{}\": {}", ca, why);
        return nullptr;
      }
      ctx.load_verify_file(ca, ec);
      if (ec) {
        error = fmt::format("\"{}\" is not a PEM CA certificate: {}", ca, openssl_reason(ec));
        return nullptr;
      }
    }
  }
  if (!options.certificates.empty()) {
    if (auto why = load_certificate(ctx, options.certificates.front()); !why.empty()) {
      error = std::move(why);
      return nullptr;
    }
  }
  return tls;
}

void ClientTls::prepare(void* native, const std::string& host) const {
  SSL* ssl = static_cast<SSL*>(native);
  const std::string& name = server_name_.empty() ? host : server_name_;
  boost::system::error_code ec;
  const auto address = boost::asio::ip::make_address(name, ec);
  if (ec) SSL_set_tlsext_host_name(ssl, name.c_str());  // RFC 6066: SNI carries names, never addresses
  if (insecure_) return;
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  if (!ec) {
    X509_VERIFY_PARAM_set1_ip_asc(param, address.to_string().c_str());
  } else {
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size());
  }
}

std::string handshake_error(void* native, const boost::system::error_code& ec) {
  SSL* ssl = static_cast<SSL*>(native);
  const long verify = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
  std::string why = openssl_reason(ec);
  if (verify != X509_V_OK) {
    why += fmt::format(" ({}; trust its CA with serversTransports.<name>.rootCAs)",
                       X509_verify_cert_error_string(verify));
  }
  ERR_clear_error();
  return why;
}

}  // namespace modelgate::net
