// The lexer of the rule language (grammar in rule_lexer.h). It reads one token ahead for the
// parser, skipping ASCII whitespace; anything it does not know becomes Tok::other, kept whole if
// it is a UTF-8 sequence, and the parser then says what it expected instead.
#include "routing/rule_lexer.h"

#include "routing/rule_ascii.h"

#include <string>

namespace modelgate::routing::rule_detail {
namespace {

bool lex_error(RuleError& error, std::size_t offset, std::string message) {
  error = RuleError{offset, std::move(message)};
  return false;
}

}  // namespace

std::string describe(const Token& t) {
  switch (t.kind) {
    case Tok::end:
      return "end of rule";
    case Tok::string:
      return "a string";
    default:
      return "\"" + std::string(t.text) + "\"";
  }
}

bool Lexer::next(Token& tok, RuleError& error) {
  while (pos_ < text_.size() && is_space(text_[pos_])) ++pos_;
  const std::size_t start = pos_;
  tok = Token{Tok::end, start, {}, {}};
  if (pos_ == text_.size()) return true;
  const char c = text_[pos_];
  const auto two = [&](char second) { return pos_ + 1 < text_.size() && text_[pos_ + 1] == second; };
  auto emit = [&](Tok kind, std::size_t length) {
    tok.kind = kind;
    tok.text = text_.substr(start, length);
    pos_ += length;
    return true;
  };
  switch (c) {
    case '(':
      return emit(Tok::lparen, 1);
    case ')':
      return emit(Tok::rparen, 1);
    case ',':
      return emit(Tok::comma, 1);
    case '!':
      return emit(Tok::not_, 1);
    case '&':
      if (two('&')) return emit(Tok::and_, 2);
      return lex_error(error, start, "single \"&\", expected \"&&\"");
    case '|':
      if (two('|')) return emit(Tok::or_, 2);
      return lex_error(error, start, "single \"|\", expected \"||\"");
    case '`':
    case '"':
      return lex_string(tok, error);
    case '\'':
      return lex_error(error, start,
                       "single quotes are not accepted, expected `backquotes` or \"double quotes\"");
    default:
      break;
  }
  if (is_name_char(c)) {
    std::size_t end = pos_;
    while (end < text_.size() && is_name_char(text_[end])) ++end;
    return emit(Tok::name, end - pos_);
  }
  // Anything else, kept whole if it is a UTF-8 sequence so that messages quote it legibly.
  std::size_t length = 1;
  while (pos_ + length < text_.size() && (static_cast<unsigned char>(text_[pos_ + length]) & 0xC0) == 0x80)
    ++length;
  return emit(Tok::other, length);
}

bool Lexer::lex_string(Token& tok, RuleError& error) {
  const std::size_t start = pos_;
  const char quote = text_[pos_++];
  for (; pos_ < text_.size(); ++pos_) {
    const char c = text_[pos_];
    if (c == quote) {
      ++pos_;
      tok.kind = Tok::string;
      tok.text = text_.substr(start, pos_ - start);
      return true;
    }
    if (c == '\\' && quote == '"') {
      const char next = pos_ + 1 < text_.size() ? text_[pos_ + 1] : '\0';
      if (next != '"' && next != '\\') {
        return lex_error(error, pos_,
                         "unknown escape in double-quoted string, expected \\\" or \\\\ "
                         "(use `backquotes` for regexps and other text with backslashes)");
      }
      tok.value += next;
      ++pos_;
      continue;
    }
    tok.value += c;
  }
  return lex_error(error, start, std::string("unterminated string starting here, expected a closing ") + quote);
}

}  // namespace modelgate::routing::rule_detail
