// Finds the model a request names: the "model" field of an OpenAI-style JSON body, or the "model"
// part of a multipart/form-data body (audio transcriptions and translations).
//
// Both extractors are pure (bytes in, model or a typed refusal out), so they can be tested and
// fuzzed without a session. A model named twice is refused rather than guessed at: the gateway
// would route by one and the server (Python servers keep the last) be asked for the other.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "http1/form_parts.h"

namespace modelgate::proxy {

enum class ModelField : std::uint8_t {
  present,
  missing,    // no "model" field (or not a string) / no "model" part
  not_json,   // JSON: the body is not a JSON object
  duplicate,  // "model" appears more than once at the top level / as more than one part
  bad_form,   // multipart: the body does not follow RFC 7578, or uses a form the gateway refuses
};

// `body` gets spare capacity appended for the JSON parser's padding (its size is unchanged).
// On `present`, `model` holds the field's value. Every top-level key is compared unescaped, so
// "mod\u0065l" is a duplicate of "model" as it is to the server.
ModelField extract_model(std::string& body, std::string& model);

// Replaces the value of the top-level "model" field (an alias resolved to its target, or a
// fallback). False when the body has no string "model".
bool replace_model(std::string& body, std::string_view model);

struct FormModel {
  ModelField status = ModelField::missing;
  std::string_view model;    // on present: the part's content, a view into the body
  std::string_view problem;  // on bad_form: what is wrong, for the client's 400
};

// The "model" part of a multipart/form-data body with that boundary (form_boundary of its
// Content-Type). Walks every part (their headers are bounded, their contents skipped by searching
// for the next delimiter) so a second "model" part after a large file is found too. A model part
// with a Content-Transfer-Encoding is refused: the server would decode it, the gateway does not.
FormModel extract_form_model(std::string_view body, std::string_view boundary);

}  // namespace modelgate::proxy
