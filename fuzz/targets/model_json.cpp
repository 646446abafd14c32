// Fuzz target: the "model" field of a JSON request body, read to route the request and rewritten
// when an alias resolves.
//
// Beyond crashes: the body's size is unchanged by extract_model, and when it finds a model,
// replace_model succeeds and a second extract_model reads back exactly the new name (quotes and
// backslashes included), so an alias can never route one model and serve another.
#include <cstddef>
#include <cstdint>
#include <string>

#include "check.h"
#include "proxy/model_field.h"

using modelgate::proxy::extract_model;
using modelgate::proxy::ModelField;
using modelgate::proxy::replace_model;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string input(modelgate::fuzz::as_view(data, size));
  std::string body = input;
  std::string model;
  const ModelField found = extract_model(body, model);
  FUZZ_CHECK(body == input);
  if (found != ModelField::present) return 0;

  const std::string renamed = model + "-\"alias\\";
  FUZZ_CHECK(replace_model(body, renamed));
  std::string again;
  FUZZ_CHECK(extract_model(body, again) == ModelField::present);
  FUZZ_CHECK(again == renamed);
  return 0;
}
