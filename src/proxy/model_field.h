// Finds the "model" field of an OpenAI-style JSON request body.
#pragma once

#include <string>
#include <string_view>

namespace modelgate::proxy {

enum class ModelField { present, not_json, missing };

// `body` gets spare capacity appended for the JSON parser's padding (its size is unchanged).
// On `present`, `model` holds the field's value.
ModelField extract_model(std::string& body, std::string& model);

// Replaces the value of the top-level "model" field (an alias resolved to its target, or a
// fallback). False when the body has no string "model".
bool replace_model(std::string& body, std::string_view model);

}  // namespace modelgate::proxy
