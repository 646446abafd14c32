// The Responses API (POST /v1/responses) as OpenAI and vLLM serve it: a "response" object with
// one assistant message of output_text, or, streamed, typed events, each an SSE event whose name
// is its "type":
//   response.created, response.in_progress            (before any token; usage null)
//   response.output_item.added, response.content_part.added
//   response.output_text.delta × n                     (one per token)
//   response.output_text.done, response.content_part.done, response.output_item.done
//   response.completed                                 (the whole response, with usage)
// No "data: [DONE]" follows. Every event carries a sequence_number, counted from 0.
// Usage names: input_tokens (with input_tokens_details.cached_tokens), output_tokens.
#include <fmt/format.h>

#include <iterator>

#include "sim/openai_responses.h"

namespace modelgate::sim::detail {

namespace {

template <typename... Args>
void append(std::string& out, fmt::format_string<Args...> f, Args&&... args) {
  fmt::format_to(std::back_inserter(out), f, std::forward<Args>(args)...);
}

void item_id(std::string& out, const Completion& c) {
  out += "\"msg_";
  append_escaped(out, c.name);
  append(out, "-{}\"", c.id);
}

void full_text(std::string& out, const Completion& c) {
  out += '"';
  for (int i = 1; i <= c.completion_tokens; ++i) append(out, "token{} ", i);
  out += '"';
}

// The assistant message item; `done` with its text, else in progress and empty.
void message_item(std::string& out, const Completion& c, bool done) {
  out += R"({"id":)";
  item_id(out, c);
  append(out, R"(,"type":"message","status":"{}","role":"assistant","content":[)",
         done ? "completed" : "in_progress");
  if (done) {
    out += R"({"type":"output_text","text":)";
    full_text(out, c);
    out += R"(,"annotations":[]})";
  }
  out += "]}";
}

void usage(std::string& out, const Completion& c) {
  append(out,
         R"({{"input_tokens":{},"input_tokens_details":{{"cached_tokens":{}}},"output_tokens":{},)"
         R"("output_tokens_details":{{"reasoning_tokens":0}},"total_tokens":{}}})",
         c.prompt_tokens, std::max(0, c.cached_tokens), c.completion_tokens,
         c.prompt_tokens + c.completion_tokens);
}

void response_object(std::string& out, const Completion& c, bool done) {
  out += R"({"id":"resp_)";
  append_escaped(out, c.name);
  append(out, R"(-{}","object":"response","created_at":{},"status":"{}","model":)", c.id, c.created,
         done ? "completed" : "in_progress");
  append_json_string(out, c.model);
  out += R"(,"output":[)";
  if (done) message_item(out, c, true);
  out +=
      R"(],"parallel_tool_calls":true,"tool_choice":"auto","tools":[],"error":null,"incomplete_details":null,)"
      R"("usage":)";
  if (done) {
    usage(out, c);
  } else {
    out += "null";
  }
  out += '}';
}

// "event: TYPE\ndata: {"type":"TYPE","sequence_number":N" — the caller closes the object.
void open_event(std::string& out, std::string_view type, int sequence) {
  append(out, "event: {}\ndata: {{\"type\":\"{}\",\"sequence_number\":{}", type, type, sequence);
}

void close_event(std::string& out) { out += "}\n\n"; }

void part_fields(std::string& out, const Completion& c) {
  out += R"(,"item_id":)";
  item_id(out, c);
  out += R"(,"output_index":0,"content_index":0)";
}

}  // namespace

void append_response(std::string& out, const Completion& c) { response_object(out, c, true); }

void append_response_start_events(std::string& out, const Completion& c) {
  for (int seq : {0, 1}) {
    open_event(out, seq == 0 ? "response.created" : "response.in_progress", seq);
    out += R"(,"response":)";
    response_object(out, c, false);
    close_event(out);
  }
  open_event(out, "response.output_item.added", 2);
  out += R"(,"output_index":0,"item":)";
  message_item(out, c, false);
  close_event(out);
  open_event(out, "response.content_part.added", 3);
  part_fields(out, c);
  out += R"(,"part":{"type":"output_text","text":"","annotations":[]})";
  close_event(out);
}

void append_response_delta_event(std::string& out, const Completion& c, int index) {
  open_event(out, "response.output_text.delta", 3 + index);
  part_fields(out, c);
  append(out, R"(,"delta":"token{} ","logprobs":[])", index);
  close_event(out);
}

void append_response_end_events(std::string& out, const Completion& c) {
  const int n = c.completion_tokens;
  open_event(out, "response.output_text.done", 4 + n);
  part_fields(out, c);
  out += R"(,"text":)";
  full_text(out, c);
  out += R"(,"logprobs":[])";
  close_event(out);
  open_event(out, "response.content_part.done", 5 + n);
  part_fields(out, c);
  out += R"(,"part":{"type":"output_text","text":)";
  full_text(out, c);
  out += R"(,"annotations":[]})";
  close_event(out);
  open_event(out, "response.output_item.done", 6 + n);
  out += R"(,"output_index":0,"item":)";
  message_item(out, c, true);
  close_event(out);
  open_event(out, "response.completed", 7 + n);
  out += R"(,"response":)";
  response_object(out, c, true);
  close_event(out);
}

}  // namespace modelgate::sim::detail
