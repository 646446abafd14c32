// Reading a yaml-cpp tree with diagnostics: typed values, maps checked against a schema, and every
// problem recorded with its place, so that one pass reports everything wrong with a file.
//
// Nothing here knows modelgate's sections; config_reader.h builds on it. The rules it applies
// everywhere:
// - a problem is recorded and the walk goes on; a reader that fails leaves its `out` alone;
// - each problem points at the key or value it is about, named by its dotted path
//   ("http.services.qwen.loadBalancer.servers[0].url");
// - yaml-cpp marks are 0-based with columns in bytes; diagnostics are 1-based with columns in
//   characters, as editors count them.
//
// Every map is read against a Schema: the keys modelgate knows, the Traefik options it accepts but
// ignores (a warning naming the option, so a Traefik file loads), and Traefik's spelling of a few
// keys that modelgate names differently. A key in another case is accepted with a warning, as
// Traefik ignores case. Anything else is an unknown key, with a "did you mean" (suggest.h).
#pragma once

#include <yaml-cpp/yaml.h>

#include <climits>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "config/config.h"
#include "config/diagnostics.h"

namespace modelgate::config::detail {

// A value in the tree, with the dotted path naming it in messages and the place to point at.
struct Entry {
  YAML::Node node;
  std::string path;
  YAML::Mark mark;
};

// The keys valid in one kind of map.
struct Schema {
  std::vector<std::string_view> known;
  std::vector<std::string_view> traefik = {};  // Traefik options accepted, warned about, ignored
  std::vector<std::pair<std::string_view, std::string_view>> aliases = {};  // Traefik's name -> ours
};

inline constexpr long long kNoMax = LLONG_MAX;  // read_int without an upper bound

// How a node looks, for "expected X, got Y": nothing, a map, a list or the quoted scalar.
std::string describe(const YAML::Node& n);

class YamlReader {
 public:
  // `text` is the file's content (it must outlive the reader), `file` its name in diagnostics.
  YamlReader(std::string_view text, std::string file);

  std::string_view text() const { return text_; }
  // Keys from this 0-based line on come from a key-value store, whose keys ignore case as
  // Traefik's do: no warning for a key spelled in another case.
  void quiet_case_from(int line) { quiet_case_from_ = line; }
  const std::string& file() const { return file_; }

  // --- places and reporting
  SourcePos pos_at(int line, int byte_column) const;  // 0-based yaml-cpp place -> 1-based
  SourcePos pos(const YAML::Mark& m) const { return pos_at(m.line, m.column); }
  // Where character `offset` of a scalar's value is in the file. Exact for a scalar on one line
  // (plain, 'single' or "double" quoted); for a folded or block scalar, the scalar's start.
  SourcePos scalar_char_pos(const YAML::Node& scalar, std::size_t offset) const;
  void report(Severity severity, SourcePos p, std::string message);
  void error(const YAML::Mark& m, std::string message) {
    report(Severity::error, pos(m), std::move(message));
  }
  void warning(const YAML::Mark& m, std::string message) {
    report(Severity::warning, pos(m), std::move(message));
  }
  void type_error(const Entry& e, std::string_view expected);  // "PATH: expected X, got Y"
  std::size_t diagnostic_count() const { return diagnostics_.size(); }
  // The diagnostics so far, in file order (stable: same place keeps report order); empties them.
  std::vector<Diagnostic> take_diagnostics();

  // --- walking. Each does nothing for an absent or null node, and reports a node of the wrong
  // kind (map, list) as a type error.
  using KeyFn = std::function<void(std::string_view key, const Entry& value)>;
  using NameFn =
      std::function<void(const std::string& name, const YAML::Mark& key, const Entry& value)>;
  using ItemFn = std::function<void(const Entry& item)>;
  // A map of fixed keys: calls on(key as the schema spells it, value) for each valid key, once.
  void each_key(const Entry& map, const Schema& schema, const KeyFn& on);
  // A map of user-chosen names, e.g. the routers: calls on(name, key mark, value) for each name,
  // once; an empty or repeated name is reported.
  void each_named(const Entry& map, std::string_view expected, const NameFn& on);
  // A list: calls on(item) for each item, with the path "PATH[i]".
  void each_item(const Entry& list, std::string_view expected, const ItemFn& on);
  // A section whose presence enables it: empty, a map, or true/false.
  bool section_enabled(const Entry& e);

  // --- values. Each reports its own problem and leaves `out` alone when the value is invalid.
  bool read_string(const Entry& e, std::string& out, std::string_view expected = "a string");
  bool read_bool(const Entry& e, bool& out);  // also yes/no, on/off, in any case
  bool read_int(const Entry& e, int& out, long long min, long long max);
  bool read_status(const Entry& e, int& out, bool allow_zero);  // an HTTP status, 100..599
  bool read_duration(const Entry& e, Duration& out, bool allow_zero);
  bool read_size(const Entry& e, std::size_t& out);  // more than 0
  bool read_url_path(const Entry& e, std::string& out);  // starts with '/', no blanks
  bool read_listen_address(const Entry& e, std::string& host, std::uint16_t& port);
  void read_string_list(const Entry& e, std::vector<std::string>& out);  // appends

 private:
  std::string_view line_text(int line) const;  // 0-based, without the line break

  std::string_view text_;
  std::string file_;
  std::vector<std::size_t> line_starts_;
  std::vector<Diagnostic> diagnostics_;
  int quiet_case_from_ = INT_MAX;
};

}  // namespace modelgate::config::detail
