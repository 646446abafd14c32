// Certificates for the TLS tests, made at test time with the `openssl` command: a CA, a server
// certificate for localhost / 127.0.0.1 / a.test, a second one for b.test and *.wild.test (SNI),
// a client certificate, all signed by the CA, and a second CA nobody trusts.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace modelgate::test {

struct TlsFiles {
  std::string dir;
  std::string ca;                   // ca.pem
  std::string other_ca;             // a CA that signed nothing here
  std::string cert, key;            // CN=localhost; SAN localhost, a.test, 127.0.0.1
  std::string cert_b, key_b;        // CN=b.test; SAN b.test, *.wild.test
  std::string client_cert, client_key;  // CN=modelgate-client (clientAuth)
};

// Makes the files in a new temporary directory; throws with openssl's output when it fails.
TlsFiles make_tls_files();

// Signs a new certificate for `names` (SAN DNS entries; "IP:..." for addresses) with the CA of
// `files`, written to cert_path/key_path (replacing them atomically, as a deploy would).
void issue_certificate(const TlsFiles& files, const std::string& cn, const std::vector<std::string>& names,
                       const std::string& cert_path, const std::string& key_path);

// Runs a command to its end (at most 30 s): its exit code and output (stdout and stderr).
struct CommandResult {
  int code = -1;
  std::string output;
};
CommandResult run_command(const std::string& executable, const std::vector<std::string>& args,
                          const std::string& input = "");

// The subject CN of the certificate `openssl s_client -servername server_name` is shown on
// 127.0.0.1:`port`; "(none: ...)" when no certificate came.
std::string served_cn(std::uint16_t port, const std::string& server_name);

}  // namespace modelgate::test
