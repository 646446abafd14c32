// Key-value pairs -> YAML text with a key per line; see kv_layout.h.
#include "config/kv_layout.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <memory>
#include <optional>

#include <fmt/format.h>

namespace modelgate::config {

namespace {

struct Folder {
  std::string key;                   // the etcd key of this node
  std::optional<std::string> value;  // set for a leaf
  std::map<std::string, std::unique_ptr<Folder>> children;
};

// A list index: Traefik's 0, 1, ..., or a register sidecar's 48-bit id (up to 15 digits).
bool is_index(std::string_view s) {
  return !s.empty() && s.size() <= 18 && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool is_list(const Folder& f) {
  return !f.children.empty() &&
         std::all_of(f.children.begin(), f.children.end(), [](const auto& c) { return is_index(c.first); });
}

// A YAML double-quoted scalar: always a string to the parser, whatever the text looks like.
std::string quoted(std::string_view s) {
  std::string out = "\"";
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (u < 0x20 || u == 0x7f) {
      out += fmt::format("\\x{:02x}", u);
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

class Writer {
 public:
  explicit Writer(KvDocument& doc) : doc_(doc) {}

  void map_body(const Folder& f, int indent) {
    for (const auto& [name, child] : f.children) {
      start_line(indent, child->key);
      doc_.text += quoted(name) + ":";
      value_or_body(*child, indent);
    }
  }

 private:
  void list_body(const Folder& f, int indent) {
    std::vector<std::pair<long long, const Folder*>> items;
    for (const auto& [name, child] : f.children) {
      long long i = 0;
      std::from_chars(name.data(), name.data() + name.size(), i);
      items.emplace_back(i, child.get());
    }
    std::stable_sort(items.begin(), items.end(),
                     [](const auto& a, const auto& b) { return a.first < b.first; });
    for (const auto& [_, child] : items) {
      start_line(indent, child->key);
      doc_.text += "-";
      value_or_body(*child, indent);
    }
  }

  void value_or_body(const Folder& f, int indent) {
    if (f.children.empty()) {
      if (f.value && !f.value->empty()) doc_.text += " " + quoted(*f.value);
      doc_.text += "\n";
      return;
    }
    doc_.text += "\n";
    if (is_list(f)) {
      list_body(f, indent + 2);
    } else {
      map_body(f, indent + 2);
    }
  }

  void start_line(int indent, const std::string& key) {
    doc_.line_keys.push_back(key);
    doc_.text.append(static_cast<std::size_t>(indent), ' ');
  }

  KvDocument& doc_;
};

}  // namespace

std::string kv_place(std::string_view provider, std::string_view key) {
  return fmt::format("{} key {}", provider, key);
}

KvDocument kv_document(std::string_view root_key, const std::vector<KvPair>& pairs) {
  KvDocument doc;
  const std::string prefix = std::string(root_key) + "/";
  auto problem = [&](const std::string& key, std::string message) {
    doc.diagnostics.push_back(Diagnostic{Severity::error, kv_place("etcd", key), 0, 0, std::move(message)});
  };
  Folder root;
  root.key = std::string(root_key);
  for (const auto& [key, value] : pairs) {
    if (!key.starts_with(prefix)) continue;  // the root key itself, or a sibling such as "traefik2/"
    std::string_view rest = std::string_view(key).substr(prefix.size());
    Folder* at = &root;
    bool ok = true;
    while (ok) {
      const auto slash = rest.find('/');
      const std::string_view segment = rest.substr(0, slash);
      if (segment.empty()) {
        problem(key, "the key has an empty segment (a doubled or trailing \"/\"), remove it");
        ok = false;
        break;
      }
      auto& child = at->children[std::string(segment)];
      if (!child) {
        child = std::make_unique<Folder>();
        child->key = std::string(key.substr(0, static_cast<std::size_t>(segment.data() + segment.size() - key.data())));
      }
      at = child.get();
      if (slash == std::string_view::npos) break;
      rest.remove_prefix(slash + 1);
    }
    if (ok) at->value = value;
  }
  // A key with a value and keys under it: one of them is a mistake (an empty value is a marker).
  auto check = [&](auto& self, Folder& f) -> void {
    if (f.value && !f.value->empty() && !f.children.empty()) {
      problem(f.key, fmt::format("the key has a value (\"{}\") and keys under it ({}/{}...), expected one or "
                                 "the other: delete this key or the keys under it",
                                 *f.value, f.key, f.children.begin()->first));
    }
    for (auto& [_, c] : f.children) self(self, *c);
  };
  check(check, root);
  Writer(doc).map_body(root, 0);
  return doc;
}

}  // namespace modelgate::config
