// "Did you mean": the hint added to a message about a name that is not known at its place (a key,
// a strategy, a service a router refers to).
//
// A candidate is suggested when it is a likely misspelling, by Levenshtein distance ignoring case
// ("sever" -> "servers"), or when one name contains the other ("health" -> "healthCheck"). With
// no likely candidate, a short list of valid names is spelled out instead.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace modelgate::config::detail {

// Levenshtein distance, ignoring ASCII case.
std::size_t edit_distance(std::string_view a, std::string_view b);

// The candidate `word` is most likely a misspelling of, if any is close enough.
std::optional<std::string> closest(std::string_view word,
                                   const std::vector<std::string_view>& candidates);

// ", did you mean "X"?", or ", expected <what> "A", "B" or "C"" for at most 12 candidates, or "".
std::string hint(std::string_view word, const std::vector<std::string_view>& candidates,
                 std::string_view what = "one of");

}  // namespace modelgate::config::detail
