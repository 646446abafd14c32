// The tokens of the rule language and the lexer that cuts a rule's text into them.
//
//   NAME    := [A-Za-z0-9_]+              operators: ( ) , ! && ||
//   STRING  := `raw, no escapes` | "double-quoted, with \" and \\"
//
// Every token keeps its offset in the text, so that a parse error can point at it (the loader
// turns offsets into FILE:LINE:COL). Internal to routing/; other layers include rule.h.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "routing/rule.h"

namespace modelgate::routing::rule_detail {

enum class Tok : std::uint8_t { end, name, string, lparen, rparen, comma, and_, or_, not_, other };

struct Token {
  Tok kind = Tok::end;
  std::size_t offset = 0;
  std::string_view text;  // as written
  std::string value;      // Tok::string: the decoded contents
};

// How a token is quoted in an error message: "end of rule", "a string" or the text itself.
std::string describe(const Token& t);

class Lexer {
 public:
  explicit Lexer(std::string_view text) : text_(text) {}

  // Reads the next token into `tok` (Tok::end at the end of the text); false, with `error` set,
  // on a lexical error: a single & or |, a single quote, a bad escape, an unterminated string.
  bool next(Token& tok, RuleError& error);

 private:
  bool lex_string(Token& tok, RuleError& error);

  std::string_view text_;
  std::size_t pos_ = 0;
};

}  // namespace modelgate::routing::rule_detail
