// Finds the "model" field of an OpenAI-style JSON request body.
#pragma once

#include <string>

namespace modelgate::proxy {

enum class ModelField { present, not_json, missing };

// `body` gets spare capacity appended for the JSON parser's padding (its size is unchanged).
// On `present`, `model` holds the field's value.
ModelField extract_model(std::string& body, std::string& model);

}  // namespace modelgate::proxy
