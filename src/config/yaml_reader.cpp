// Typed, schema-checked reading of a yaml-cpp tree, with every problem recorded at its place; see
// yaml_reader.h.
#include "config/yaml_reader.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <optional>

#include <fmt/format.h>

#include "config/loader.h"
#include "config/suggest.h"
#include "config/values.h"

namespace modelgate::config::detail {

namespace {

std::string join_path(std::string_view parent, std::string_view child) {
  return parent.empty() ? std::string(child) : fmt::format("{}.{}", parent, child);
}

}  // namespace

std::string describe(const YAML::Node& n) {
  if (!n.IsDefined() || n.IsNull()) return "nothing";
  if (n.IsMap()) return "a map";
  if (n.IsSequence()) return "a list";
  std::string s = n.Scalar();
  if (s.size() > 40) s = s.substr(0, 37) + "...";
  return fmt::format("\"{}\"", s);
}

YamlReader::YamlReader(std::string_view text, std::string file) : text_(text), file_(std::move(file)) {
  line_starts_.push_back(0);
  for (std::size_t i = 0; i < text_.size(); ++i) {
    if (text_[i] == '\n') line_starts_.push_back(i + 1);
  }
}

std::string_view YamlReader::line_text(int line) const {
  if (line < 0 || static_cast<std::size_t>(line) >= line_starts_.size()) return {};
  const std::size_t start = line_starts_[line];
  std::size_t end = text_.find('\n', start);
  if (end == std::string_view::npos) end = text_.size();
  std::string_view l = text_.substr(start, end - start);
  if (l.ends_with('\r')) l.remove_suffix(1);
  return l;
}

SourcePos YamlReader::pos_at(int line, int byte_column) const {
  if (line < 0) return {};
  if (byte_column < 0) byte_column = 0;
  const std::string_view l = line_text(line);
  const std::size_t n = std::min<std::size_t>(byte_column, l.size());
  // Count characters, not bytes: skip UTF-8 continuation bytes.
  const auto chars = std::count_if(l.begin(), l.begin() + static_cast<std::ptrdiff_t>(n),
                                   [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; });
  return {line + 1, static_cast<int>(chars) + 1 + (byte_column - static_cast<int>(n))};
}

SourcePos YamlReader::scalar_char_pos(const YAML::Node& scalar, std::size_t offset) const {
  const YAML::Mark m = scalar.Mark();
  const std::string_view line = line_text(m.line);
  const auto col = static_cast<std::size_t>(std::max(m.column, 0));
  if (col >= line.size()) return pos(m);
  const char quote = line[col];
  if (quote == '|' || quote == '>') return pos(m);
  if (quote != '"' && quote != '\'') {
    // Plain: the value is the text itself, as far as it runs on this line.
    const std::string& value = scalar.Scalar();
    std::size_t same = 0;
    while (same < value.size() && col + same < line.size() && value[same] == line[col + same]) ++same;
    if (offset <= same) return pos_at(m.line, static_cast<int>(col + offset));
    return pos(m);
  }
  // Quoted: walk the raw text, decoding escapes, until `offset` decoded bytes have passed.
  std::size_t i = col + 1;
  std::size_t decoded = 0;
  while (i < line.size() && decoded < offset) {
    const char c = line[i];
    if (c == quote) {
      if (quote == '\'' && i + 1 < line.size() && line[i + 1] == '\'') {
        i += 2;
        ++decoded;
        continue;
      }
      break;  // the closing quote
    }
    if (quote == '"' && c == '\\' && i + 1 < line.size()) {
      const char e = line[i + 1];
      i += e == 'x' ? 4 : e == 'u' ? 6 : e == 'U' ? 10 : 2;
      decoded += e == 'u' || e == 'U' ? 2 : 1;  // approximate: escapes are rare in rules
      continue;
    }
    ++i;
    ++decoded;
  }
  if (decoded == offset) return pos_at(m.line, static_cast<int>(i));
  return pos(m);
}

void YamlReader::report(Severity severity, SourcePos p, std::string message) {
  diagnostics_.push_back(Diagnostic{severity, file_, p.line, p.column, std::move(message)});
}

void YamlReader::type_error(const Entry& e, std::string_view expected) {
  error(e.mark, fmt::format("{}: expected {}, got {}", e.path, expected, describe(e.node)));
}

std::vector<Diagnostic> YamlReader::take_diagnostics() {
  std::stable_sort(diagnostics_.begin(), diagnostics_.end(),
                   [](const Diagnostic& a, const Diagnostic& b) {
                     return std::pair(a.line, a.column) < std::pair(b.line, b.column);
                   });
  return std::exchange(diagnostics_, {});
}

// --- walking ---------------------------------------------------------------------------------

void YamlReader::each_key(const Entry& map, const Schema& schema, const KeyFn& on) {
  if (!map.node.IsDefined() || map.node.IsNull()) return;
  if (!map.node.IsMap()) {
    type_error(map, "a map");
    return;
  }
  const std::string where = map.path.empty() ? std::string() : map.path + ": ";
  std::vector<std::pair<std::string_view, YAML::Mark>> seen;
  for (const auto& kv : map.node) {
    const YAML::Node& key = kv.first;
    if (!key.IsScalar()) {
      error(key.Mark(), fmt::format("{}a key must be a name, got {}", where, describe(key)));
      continue;
    }
    const std::string& name = key.Scalar();
    const Entry e{kv.second, join_path(map.path, name),
                  kv.second.IsNull() ? key.Mark() : kv.second.Mark()};

    std::optional<std::string_view> canonical;
    for (std::string_view k : schema.known) {
      if (k == name) canonical = k;
    }
    for (const auto& [from, to] : schema.aliases) {
      if (from == name) canonical = to;
    }
    if (!canonical) {
      // Traefik reads keys without regard to case; accept that, and say how we spell it.
      for (std::string_view k : schema.known) {
        if (iequal(k, name)) canonical = k;
      }
      if (canonical && key.Mark().line < quiet_case_from_) {
        warning(key.Mark(), fmt::format("{}\"{}\" is spelled \"{}\" (accepted, as Traefik ignores case)",
                                        where, name, *canonical));
      }
    }
    if (!canonical) {
      const auto t = std::find_if(schema.traefik.begin(), schema.traefik.end(),
                                  [&](std::string_view k) { return iequal(k, name); });
      if (t != schema.traefik.end()) {
        warning(key.Mark(), fmt::format("{}: Traefik option \"{}\" is not implemented by modelgate "
                                        "and is ignored",
                                        e.path, *t));
        continue;
      }
      if (name == "<<") {
        error(key.Mark(), fmt::format("{}YAML merge keys (\"<<\") are not supported, write the "
                                      "keys out",
                                      where));
        continue;
      }
      const std::string prefix =
          map.path.empty() ? fmt::format("unknown top-level key \"{}\"", name)
                           : fmt::format("{}: unknown key \"{}\"", map.path, name);
      error(key.Mark(), prefix + hint(name, schema.known));
      continue;
    }
    const auto dup = std::find_if(seen.begin(), seen.end(),
                                  [&](const auto& s) { return s.first == *canonical; });
    if (dup != seen.end()) {
      error(key.Mark(), fmt::format("{}duplicate key \"{}\", it is already set on line {}", where,
                                    name, pos(dup->second).line));
      continue;
    }
    seen.emplace_back(*canonical, key.Mark());
    on(*canonical, e);
  }
}

void YamlReader::each_named(const Entry& map, std::string_view expected, const NameFn& on) {
  if (!map.node.IsDefined() || map.node.IsNull()) return;
  if (!map.node.IsMap()) {
    type_error(map, expected);
    return;
  }
  std::map<std::string, YAML::Mark> seen;
  for (const auto& kv : map.node) {
    const YAML::Node& key = kv.first;
    if (!key.IsScalar() || key.Scalar().empty()) {
      error(key.Mark(), fmt::format("{}: a name must be a non-empty string, got {}", map.path,
                                    describe(key)));
      continue;
    }
    const std::string& name = key.Scalar();
    if (auto it = seen.find(name); it != seen.end()) {
      error(key.Mark(), fmt::format("{}: \"{}\" is defined twice, first on line {}", map.path, name,
                                    pos(it->second).line));
      continue;
    }
    seen.emplace(name, key.Mark());
    on(name, key.Mark(),
       Entry{kv.second, join_path(map.path, name),
             kv.second.IsNull() ? key.Mark() : kv.second.Mark()});
  }
}

void YamlReader::each_item(const Entry& list, std::string_view expected, const ItemFn& on) {
  if (!list.node.IsDefined() || list.node.IsNull()) return;
  if (!list.node.IsSequence()) {
    type_error(list, expected);
    return;
  }
  std::size_t i = 0;
  for (const auto& item : list.node) {
    const YAML::Mark m = item.IsNull() || item.Mark().line < 0 ? list.mark : item.Mark();
    on(Entry{item, fmt::format("{}[{}]", list.path, i), m});
    ++i;
  }
}

bool YamlReader::section_enabled(const Entry& e) {
  if (e.node.IsNull() || e.node.IsMap()) return true;
  if (e.node.IsScalar()) {
    const std::string v = lower(e.node.Scalar());
    if (v == "true" || v == "false") return v == "true";
  }
  type_error(e, "a map (or true/false)");
  return false;
}

// --- values ----------------------------------------------------------------------------------

bool YamlReader::read_string(const Entry& e, std::string& out, std::string_view expected) {
  if (!e.node.IsScalar()) {
    type_error(e, expected);
    return false;
  }
  out = e.node.Scalar();
  return true;
}

bool YamlReader::read_bool(const Entry& e, bool& out) {
  if (e.node.IsScalar()) {
    const std::string v = lower(e.node.Scalar());
    if (v == "true" || v == "yes" || v == "on") {
      out = true;
      return true;
    }
    if (v == "false" || v == "no" || v == "off") {
      out = false;
      return true;
    }
  }
  type_error(e, "true or false");
  return false;
}

bool YamlReader::read_int(const Entry& e, int& out, long long min, long long max) {
  long long v = 0;
  bool ok = e.node.IsScalar();
  if (ok) {
    const std::string& s = e.node.Scalar();
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    ok = !s.empty() && ec == std::errc() && end == s.data() + s.size();
    if (ec == std::errc::result_out_of_range) {
      ok = true;
      v = s.starts_with('-') ? LLONG_MIN : LLONG_MAX;
    }
  }
  if (!ok) {
    type_error(e, "an integer");
    return false;
  }
  max = std::min<long long>(max, INT_MAX);
  min = std::max<long long>(min, INT_MIN);
  if (v < min || v > max) {
    const std::string range = max == INT_MAX && min > INT_MIN ? fmt::format("{} or more", min)
                                                              : fmt::format("{} to {}", min, max);
    error(e.mark, fmt::format("{}: {} is out of range, expected {}", e.path, e.node.Scalar(), range));
    return false;
  }
  out = static_cast<int>(v);
  return true;
}

bool YamlReader::read_status(const Entry& e, int& out, bool allow_zero) {
  int v = 0;
  if (!read_int(e, v, INT_MIN, INT_MAX)) return false;
  if ((v < 100 || v > 599) && !(allow_zero && v == 0)) {
    error(e.mark, fmt::format("{}: {} is not an HTTP status, expected 100 to 599{}", e.path, v,
                              allow_zero ? " (or 0 for any 2xx/3xx)" : ""));
    return false;
  }
  out = v;
  return true;
}

bool YamlReader::read_duration(const Entry& e, Duration& out, bool allow_zero) {
  std::optional<Duration> d;
  if (e.node.IsScalar()) d = parse_duration(e.node.Scalar());
  if (!d) {
    error(e.mark, fmt::format("{}: invalid duration {}, expected a number with a unit such as "
                              "\"500ms\", \"2s\", \"5m\", \"1h\" or \"1m30s\" (a bare number is "
                              "seconds)",
                              e.path, describe(e.node)));
    return false;
  }
  if (!allow_zero && d->count() == 0) {
    error(e.mark, fmt::format("{}: the duration must be more than 0", e.path));
    return false;
  }
  out = *d;
  return true;
}

bool YamlReader::read_size(const Entry& e, std::size_t& out) {
  std::optional<std::size_t> n;
  if (e.node.IsScalar()) n = parse_size(e.node.Scalar());
  if (!n) {
    error(e.mark, fmt::format("{}: invalid size {}, expected a number of bytes, optionally with a "
                              "unit such as \"16KiB\", \"32MiB\" or \"1MB\"",
                              e.path, describe(e.node)));
    return false;
  }
  if (*n == 0) {
    error(e.mark, fmt::format("{}: the size must be more than 0", e.path));
    return false;
  }
  out = *n;
  return true;
}

bool YamlReader::read_url_path(const Entry& e, std::string& out) {
  std::string p;
  if (!read_string(e, p, "a path such as \"/health\"")) return false;
  if (!p.starts_with('/') || p.find_first_of(" \t") != std::string::npos) {
    error(e.mark, fmt::format("{}: invalid path \"{}\", expected a path starting with \"/\"", e.path, p));
    return false;
  }
  out = std::move(p);
  return true;
}

bool YamlReader::read_listen_address(const Entry& e, std::string& host, std::uint16_t& port) {
  std::string a;
  if (!read_string(e, a, "an address such as \":8080\"")) return false;
  if (auto why = parse_listen_address(a, host, port); !why.empty()) {
    error(e.mark, fmt::format("{}: invalid address \"{}\": {}, expected \"HOST:PORT\", \":PORT\" or "
                              "\"[IPv6]:PORT\"",
                              e.path, a, why));
    return false;
  }
  return true;
}

void YamlReader::read_string_list(const Entry& e, std::vector<std::string>& out) {
  each_item(e, "a list of strings such as [a, b]", [&](const Entry& item) {
    std::string s;
    if (read_string(item, s)) out.push_back(std::move(s));
  });
}

}  // namespace modelgate::config::detail
