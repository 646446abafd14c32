// TLS in Traefik's shape: an entry point's `http.tls` (HTTPS on that listener), the top-level
// `tls` section (certificates, and stores.default.defaultCertificate) and
// `http.serversTransports.<name>` (rootCAs, certificates, insecureSkipVerify, serverName) for
// https:// servers. Every certificate, key and CA file is loaded here, so a file that cannot be
// used is reported at the line that names it and a reload with such a file keeps the running
// configuration. See config_reader.h, docs/tls.md.
#include <string>
#include <vector>

#include <boost/asio/ssl/context.hpp>
#include <fmt/format.h>

#include "config/config_reader.h"
#include "config/suggest.h"
#include "net/tls.h"

namespace modelgate::config::detail {

namespace {

const Schema kEntryPointHttp{{"tls"},
                             {"redirections", "middlewares", "encodeQuerySemicolons", "sanitizePath",
                              "encodedCharacters", "maxHeaderBytes"}};
const Schema kEntryPointTls{{}, {"options", "certResolver", "domains"}};
const Schema kTls{{"certificates", "stores"}, {"options"}};
const Schema kCertificate{{"certFile", "keyFile"}, {"stores"}};
const Schema kStore{{"defaultCertificate"}, {"defaultGeneratedCert"}};
const Schema kTransport{{"rootCAs", "certificates", "insecureSkipVerify", "serverName"},
                        {"maxIdleConnsPerHost", "forwardingTimeouts", "disableHTTP2", "peerCertURI",
                         "spiffe"}};

}  // namespace

void ConfigReader::load_entry_point_http(const Entry& e, EntryPoint& ep) {
  each_key(e, kEntryPointHttp, [&](std::string_view, const Entry& f) {
    if (!f.node.IsNull() && !f.node.IsMap()) {
      type_error(f, "a map, e.g. tls: {} (the certificates are listed under the top-level tls section)");
      return;
    }
    each_key(f, kEntryPointTls, [](std::string_view, const Entry&) {});
    ep.tls = true;
    tls_entry_points_.push_back({ep.name, f.mark});
  });
}

// A certificate and key that load together; with `client`, for a serversTransport.
bool ConfigReader::load_certificate(const Entry& e, TlsCertificate& out, bool client) {
  if (!e.node.IsMap()) {
    type_error(e, "a certificate such as {certFile: cert.pem, keyFile: key.pem}");
    return false;
  }
  out.pos = pos(e.mark);
  std::optional<YAML::Mark> cert_mark;
  each_key(e, kCertificate, [&](std::string_view k, const Entry& f) {
    if (k == "certFile") {
      if (read_string(f, out.certFile, "the path of a PEM certificate file")) cert_mark = f.mark;
    } else if (k == "keyFile") {
      read_string(f, out.keyFile, "the path of a PEM private key file");
    }
  });
  if (out.certFile.empty() || out.keyFile.empty()) {
    error(e.mark, fmt::format("{}: expected both certFile and keyFile, e.g. {{certFile: cert.pem, "
                              "keyFile: key.pem}}",
                              e.path));
    return false;
  }
  boost::asio::ssl::context ctx(client ? boost::asio::ssl::context::tls_client
                                       : boost::asio::ssl::context::tls_server);
  if (auto why = net::load_certificate(ctx, {out.certFile, out.keyFile}); !why.empty()) {
    error(cert_mark.value_or(e.mark), fmt::format("{}: {}", e.path, why));
    return false;
  }
  return true;
}

void ConfigReader::load_tls(const Entry& e) {
  each_key(e, kTls, [&](std::string_view k, const Entry& f) {
    if (k == "certificates") {
      each_item(f, "a list of certificates such as [{certFile: cert.pem, keyFile: key.pem}]",
                [&](const Entry& item) {
                  TlsCertificate c;
                  if (load_certificate(item, c, false)) config_.tls.certificates.push_back(std::move(c));
                });
    } else {  // stores
      each_named(f, "a map of stores such as {default: {defaultCertificate: {...}}}",
                 [&](const std::string& name, const YAML::Mark& key, const Entry& store) {
                   if (name != "default") {
                     warning(key, fmt::format("{}: only the store \"default\" is used; this one is "
                                              "ignored",
                                              store.path));
                     return;
                   }
                   each_key(store, kStore, [&](std::string_view, const Entry& d) {
                     TlsCertificate c;
                     if (load_certificate(d, c, false)) config_.tls.defaultCertificate = std::move(c);
                   });
                 });
    }
  });
}

void ConfigReader::load_servers_transport(const std::string& name, const YAML::Mark& key, const Entry& e) {
  ServersTransport t;
  t.name = name;
  t.pos = pos(key);
  bool ok = true;
  each_key(e, kTransport, [&](std::string_view k, const Entry& f) {
    if (k == "rootCAs") {
      read_string_list(f, t.rootCAs);
    } else if (k == "certificates") {
      each_item(f, "a list of certificates such as [{certFile: client.pem, keyFile: client-key.pem}]",
                [&](const Entry& item) {
                  TlsCertificate c;
                  if (load_certificate(item, c, true)) {
                    t.certificates.push_back(std::move(c));
                  } else {
                    ok = false;
                  }
                });
    } else if (k == "insecureSkipVerify") {
      read_bool(f, t.insecureSkipVerify);
      if (t.insecureSkipVerify) {
        warning(f.mark, fmt::format("{}: the servers' certificates are not checked: anyone between "
                                    "modelgate and them can read and change the traffic",
                                    f.path));
      }
    } else if (k == "serverName") {
      read_string(f, t.serverName, "the name the servers' certificates are for");
    }
  });
  if (ok) {
    net::ClientTlsOptions options{t.rootCAs, {}, t.insecureSkipVerify, t.serverName};
    for (const auto& c : t.certificates) options.certificates.push_back({c.certFile, c.keyFile});
    std::string why;
    if (!net::ClientTls::make(options, why)) error(key, fmt::format("{}: {}", e.path, why));
  }
  config_.serversTransports[name] = std::move(t);
}

void ConfigReader::check_tls() {
  std::vector<std::string_view> names;
  for (const auto& [name, _] : config_.serversTransports) names.push_back(name);
  for (const auto& ref : transport_refs_) {
    if (config_.serversTransports.count(ref.name)) continue;
    error(ref.mark, fmt::format("{}: unknown serversTransport \"{}\"{}", ref.path, ref.name,
                                names.empty() ? std::string(", and none is defined under http.serversTransports")
                                              : hint(ref.name, names, "one of the transports")));
  }
  if (config_.tls.certificates.empty() && !config_.tls.defaultCertificate) {
    for (const auto& [name, mark] : tls_entry_points_) {
      error(mark, fmt::format("entryPoints.{}.http.tls: no certificate to serve, add tls.certificates: "
                              "[{{certFile: cert.pem, keyFile: key.pem}}] at the top level",
                              name));
    }
  }
}

}  // namespace modelgate::config::detail
