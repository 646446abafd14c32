// Shell globs (`*`, `?`, `[...]`) for the model names an API key may use, matched by fnmatch(3)
// (POSIX, in glibc) rather than by hand. fnmatch accepts any pattern, so a pattern it would read
// differently from what its author meant (an unclosed `[`, a trailing `\`) is refused when the
// configuration is read.
#pragma once

#include <string>
#include <string_view>

namespace modelgate::text {

// "" when `pattern` is a valid glob, else what is wrong with it.
std::string glob_problem(std::string_view pattern);
// `name` matches `pattern` (both NUL-terminated; '/' and '.' are ordinary characters).
bool glob_match(const std::string& pattern, const std::string& name);

}  // namespace modelgate::text
