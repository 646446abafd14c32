#include "support/tls_files.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <stdexcept>

#include "support/gateway_process.h"
#include "support/process.h"

namespace modelgate::test {

CommandResult run_command(const std::string& executable, const std::vector<std::string>& args,
                          const std::string& input) {
  if (input.empty()) {
    Process p(executable, args);
    CommandResult r;
    r.code = p.wait(30s).value_or(-1);
    r.output = p.output();
    return r;
  }
  // Input through a file given to a shell: Process has no stdin pipe.
  const std::string in = temp_dir() + "/stdin";
  std::ofstream(in) << input;
  std::string cmd = "exec '" + executable + "'";
  for (const auto& a : args) cmd += " '" + a + "'";
  cmd += " < '" + in + "'";
  Process p("/bin/sh", {"-c", cmd});
  CommandResult r;
  r.code = p.wait(30s).value_or(-1);
  r.output = p.output();
  return r;
}

namespace {

void openssl(const std::vector<std::string>& args) {
  auto r = run_command("openssl", args);
  if (r.code != 0) throw std::runtime_error("openssl failed:\n" + r.output);
}

void make_ca(const std::string& dir, const std::string& name) {
  openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
           "-subj", "/CN=" + name, "-keyout", dir + "/" + name + "-key.pem", "-out", dir + "/" + name + ".pem",
           "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign"});
}

}  // namespace

void issue_certificate(const TlsFiles& files, const std::string& cn, const std::vector<std::string>& names,
                       const std::string& cert_path, const std::string& key_path) {
  std::string san;
  for (const auto& n : names) san += (san.empty() ? "" : ",") + (n.starts_with("IP:") ? n : "DNS:" + n);
  const std::string ext = files.dir + "/" + cn + ".ext";
  std::ofstream(ext) << "subjectAltName=" << (san.empty() ? "DNS:" + cn : san)
                     << "\nextendedKeyUsage=serverAuth,clientAuth\n";
  const std::string csr = files.dir + "/" + cn + ".csr";
  const std::string new_key = key_path + ".new";
  const std::string new_cert = cert_path + ".new";
  openssl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-subj", "/CN=" + cn,
           "-keyout", new_key, "-out", csr});
  openssl({"x509", "-req", "-in", csr, "-CA", files.ca, "-CAkey", files.dir + "/ca-key.pem", "-CAcreateserial",
           "-days", "2", "-extfile", ext, "-out", new_cert});
  std::filesystem::rename(new_key, key_path);
  std::filesystem::rename(new_cert, cert_path);
}

TlsFiles make_tls_files() {
  TlsFiles f;
  f.dir = temp_dir();
  make_ca(f.dir, "ca");
  make_ca(f.dir, "other-ca");
  f.ca = f.dir + "/ca.pem";
  f.other_ca = f.dir + "/other-ca.pem";
  f.cert = f.dir + "/server.pem";
  f.key = f.dir + "/server-key.pem";
  f.cert_b = f.dir + "/b.pem";
  f.key_b = f.dir + "/b-key.pem";
  f.client_cert = f.dir + "/client.pem";
  f.client_key = f.dir + "/client-key.pem";
  issue_certificate(f, "localhost", {"localhost", "a.test", "IP:127.0.0.1"}, f.cert, f.key);
  issue_certificate(f, "b.test", {"b.test", "*.wild.test"}, f.cert_b, f.key_b);
  issue_certificate(f, "modelgate-client", {"modelgate-client"}, f.client_cert, f.client_key);
  return f;
}

std::string served_cn(std::uint16_t port, const std::string& server_name) {
  auto r = run_command("/bin/sh", {"-c", "openssl s_client -connect 127.0.0.1:" + std::to_string(port) +
                                             " -servername " + server_name +
                                             " </dev/null 2>/dev/null | openssl x509 -noout -subject"});
  std::smatch m;
  if (std::regex_search(r.output, m, std::regex(R"(CN\s*=\s*([^,\s]+))"))) return m[1];
  return "(none: " + r.output + ")";
}

}  // namespace modelgate::test
