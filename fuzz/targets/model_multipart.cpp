// Fuzz target: the "model" part of a multipart/form-data body (audio uploads), read to route the
// request; the body itself is forwarded unchanged.
//
// Input: the Content-Type value on the first line, then the body. Beyond crashes: the boundary is
// a view into the Content-Type; the model, a problem and every part the walker yields are views
// into the body (nothing is copied or rewritten); a model is found only in a body whose parts all
// read cleanly, and then exactly one part is named "model" and its content is that model.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "check.h"
#include "http1/form_parts.h"
#include "proxy/model_field.h"

using namespace modelgate::proxy;
namespace http1 = modelgate::http1;
using modelgate::fuzz::within;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input = modelgate::fuzz::as_view(data, size);
  const std::size_t eol = input.find('\n');
  if (eol == std::string_view::npos) return 0;
  const std::string_view content_type = input.substr(0, eol);
  const std::string_view body = input.substr(eol + 1);

  const std::string_view boundary = http1::form_boundary(content_type);
  FUZZ_CHECK(within(boundary, content_type));
  FUZZ_CHECK(boundary.size() <= http1::kMaxFormBoundary);
  if (boundary.empty()) return 0;

  const FormModel found = extract_form_model(body, boundary);
  FUZZ_CHECK(within(found.model, body));
  FUZZ_CHECK(found.status != ModelField::bad_form || !found.problem.empty());
  if (found.status != ModelField::present) return 0;

  http1::FormParts parts(body, boundary);
  http1::FormPart part;
  int models = 0;
  while (parts.next(part)) {
    FUZZ_CHECK(within(part.content, body));
    if (part.name == "model") {
      ++models;
      FUZZ_CHECK(part.content == found.model);
    }
  }
  FUZZ_CHECK(parts.problem().empty());
  FUZZ_CHECK(models == 1);
  return 0;
}
