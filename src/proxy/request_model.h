// The model a request body names, as routing sees it, and the 400 when the body names it in a way
// that cannot be trusted (twice, or in a malformed form). The extractors themselves are in
// model_field.h; this adds what the client is told.
#pragma once

#include <string>
#include <string_view>

#include "proxy/errors.h"
#include "proxy/model_field.h"

namespace modelgate::proxy {

// The model of `body` into `model`: the JSON "model" field, or the "model" part when `form` (the
// boundary of a multipart/form-data Content-Type) is not empty. On duplicate and bad_form,
// `error` holds the 400 to answer.
ModelField read_model(std::string& body, std::string_view form, std::string& model, ErrorReply& error);

// The 400 for an alias named in a multipart body: such a body is forwarded unchanged, so the
// gateway cannot put the alias's target in its place.
ErrorReply alias_in_form(std::string_view alias, std::string_view target);

}  // namespace modelgate::proxy
