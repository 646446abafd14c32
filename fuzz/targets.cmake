# The fuzz targets, one source each in fuzz/targets/<name>.cpp and a seed corpus in
# fuzz/corpus/<name>/. Read by fuzz/CMakeLists.txt (to build them) and by the top-level
# CMakeLists.txt (to run each for a few seconds under ctest).
set(MODELGATE_FUZZ_TARGETS
  request_head     # http1/parser: parse_request
  response_head    # http1/parser: parse_response
  chunked          # http1/parser: ChunkedDecoder, whole and in pieces
  model_json       # proxy/model_field: extract_model, replace_model
  model_multipart  # proxy/model_field, http1/form_parts: extract_form_model, FormParts
  usage_sse        # observability/usage_tap: UsageTap (SSE and JSON), inject_include_usage
  rule             # routing/rule: parse_rule, Rule::matches
  config           # config/loader: load_text behind the YAML parse guard
  client_hello     # net/client_hello: parse_client_hello, whole and a byte at a time
)
