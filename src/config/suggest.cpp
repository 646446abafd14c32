// "Did you mean" hints for unknown names; see suggest.h.
#include "config/suggest.h"

#include <algorithm>
#include <cstdint>
#include <utility>

#include <fmt/format.h>

#include "config/values.h"

namespace modelgate::config::detail {

namespace {

std::string join_quoted(const std::vector<std::string_view>& names) {
  std::string out;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (i > 0) out += i + 1 == names.size() ? " or " : ", ";
    out += fmt::format("\"{}\"", names[i]);
  }
  return out;
}

}  // namespace

// Levenshtein distance, ignoring case (two rows).
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::size_t subst = prev[j - 1] + (lower_char(a[i - 1]) == lower_char(b[j - 1]) ? 0 : 1);
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, subst});
    }
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

// A typo: a small edit distance, relative to the shorter name. Containment: one name (4+ letters)
// inside the other. The nearest such candidate wins; the first of equals.
std::optional<std::string> closest(std::string_view word,
                                   const std::vector<std::string_view>& candidates) {
  std::optional<std::string> best;
  std::size_t best_distance = SIZE_MAX;
  const std::string w = lower(word);
  for (std::string_view c : candidates) {
    const std::size_t d = edit_distance(word, c);
    const std::string lc = lower(c);
    const bool typo = d <= std::max<std::size_t>(2, std::min(word.size(), c.size()) / 3) &&
                      d < std::max(word.size(), c.size()) && d < word.size();
    const bool contained = (w.size() >= 4 && lc.find(w) != std::string::npos) ||
                           (lc.size() >= 4 && w.find(lc) != std::string::npos);
    if ((typo || contained) && d < best_distance) {
      best = std::string(c);
      best_distance = d;
    }
  }
  return best;
}

std::string hint(std::string_view word, const std::vector<std::string_view>& candidates,
                 std::string_view what) {
  if (auto best = closest(word, candidates)) return fmt::format(", did you mean \"{}\"?", *best);
  if (candidates.empty()) return {};
  if (candidates.size() > 12) return {};
  return fmt::format(", expected {} {}", what, join_quoted(candidates));
}

}  // namespace modelgate::config::detail
