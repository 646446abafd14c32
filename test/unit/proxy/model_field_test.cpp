// The model extractors on the bodies clients send: JSON with the model named once, twice or
// escaped, and multipart/form-data as curl -F, the OpenAI SDK (httpx) and browsers frame it.
#include "proxy/model_field.h"

#include <gtest/gtest.h>

#include <string>

namespace modelgate::proxy {
namespace {

ModelField json(std::string body, std::string* model = nullptr) {
  std::string m;
  const ModelField f = extract_model(body, m);
  if (model) *model = m;
  return f;
}

TEST(JsonModel, FirstKeyOrLater) {
  std::string m;
  EXPECT_EQ(json(R"({"model":"m","messages":[{"role":"user","content":"hi"}]})", &m), ModelField::present);
  EXPECT_EQ(m, "m");
  EXPECT_EQ(json(R"({"messages":[{"role":"user","content":"a \"model\": x"}],"stream":true,"model":"q/w-1"})", &m),
            ModelField::present);
  EXPECT_EQ(m, "q/w-1");
}

TEST(JsonModel, MissingOrNotAString) {
  EXPECT_EQ(json(R"({"messages":[]})"), ModelField::missing);
  EXPECT_EQ(json(R"({"model":42})"), ModelField::missing);
  EXPECT_EQ(json(R"({"model":null,"x":{"model":"nested"}})"), ModelField::missing);
  EXPECT_EQ(json("not json"), ModelField::not_json);
  EXPECT_EQ(json(R"(["model","m"])"), ModelField::not_json);
}

TEST(JsonModel, DuplicateKeyIsRefused) {
  EXPECT_EQ(json(R"({"model":"m","messages":[{"role":"user","content":"hi"}],"model":"x"})"),
            ModelField::duplicate);
  EXPECT_EQ(json(R"({"model":"m","model":"m"})"), ModelField::duplicate);
  EXPECT_EQ(json(R"({"model":5,"model":"x"})"), ModelField::duplicate);
  // Escaped spellings of the key are the same key to the server's JSON parser.
  EXPECT_EQ(json(R"({"model":"m","mod\u0065l":"x"})"), ModelField::duplicate);
  EXPECT_EQ(json(R"({"\u006dodel":"m","model":"x"})"), ModelField::duplicate);
  // Nested keys named model are not the request's model.
  std::string m;
  EXPECT_EQ(json(R"({"model":"m","tools":[{"model":"x"}],"extra":{"model":"y"}})", &m), ModelField::present);
  EXPECT_EQ(m, "m");
}

TEST(JsonModel, ReplaceKeepsTheRest) {
  std::string body = R"({"messages":[],"model":"alias","stream":true})";
  ASSERT_TRUE(replace_model(body, "tar\"get"));
  EXPECT_EQ(body, R"({"messages":[],"model":"tar\"get","stream":true})");
}

// ---- multipart/form-data ----

TEST(FormBoundary, FromContentType) {
  EXPECT_EQ(http1::form_boundary("multipart/form-data; boundary=------------------------d74496d66958873e"),
            "------------------------d74496d66958873e");
  EXPECT_EQ(http1::form_boundary("Multipart/Form-Data;boundary=\"a b:c\""), "a b:c");
  EXPECT_EQ(http1::form_boundary("multipart/form-data; charset=utf-8; boundary=x"), "x");
  EXPECT_EQ(http1::form_boundary("application/json"), "");
  EXPECT_EQ(http1::form_boundary("multipart/form-data"), "");
  EXPECT_EQ(http1::form_boundary("multipart/mixed; boundary=x"), "");
  EXPECT_EQ(http1::form_boundary("multipart/form-data; boundary="), "");
  EXPECT_EQ(http1::form_boundary("multipart/form-data; boundary=" + std::string(71, 'b')), "");
  EXPECT_EQ(http1::form_boundary("multipart/form-data; boundary=\"a\\\"b\""), "") << "quoted-pairs are refused";
  EXPECT_EQ(http1::form_boundary("multipart/form-data; boundary=a{b"), "");
}

constexpr std::string_view kB = "------------------------d74496d66958873e";

std::string part(std::string_view disposition, std::string_view content, std::string_view extra = "") {
  return "--" + std::string(kB) + "\r\nContent-Disposition: form-data; " + std::string(disposition) + "\r\n" +
         std::string(extra) + "\r\n" + std::string(content) + "\r\n";
}
std::string end() { return "--" + std::string(kB) + "--\r\n"; }

TEST(FormModel, CurlOrderFileFirst) {
  // curl -F file=@a.wav -F model=whisper-1 (the OpenAI reference's order).
  const std::string audio("RIFF\0\0\0\0WAVE\r\n--not-the-boundary\r\n\r\n", 36);
  const std::string body = part(R"(name="file"; filename="a.wav")", audio, "Content-Type: audio/wav\r\n") +
                           part(R"(name="model")", "whisper-1") + end();
  const auto found = extract_form_model(body, kB);
  EXPECT_EQ(found.status, ModelField::present) << found.problem;
  EXPECT_EQ(found.model, "whisper-1");
}

TEST(FormModel, ModelFirstPreambleAndPadding) {
  const std::string body = "preamble to ignore\r\n" + part("name=model", "large-v3") +
                           "--" + std::string(kB) + " \t\r\nContent-Disposition: form-data; name=\"language\"\r\n\r\nen\r\n" +
                           end();
  const auto found = extract_form_model(body, kB);
  EXPECT_EQ(found.status, ModelField::present) << found.problem;
  EXPECT_EQ(found.model, "large-v3");
}

TEST(FormModel, MissingModelPart) {
  const std::string body = part(R"(name="file"; filename="a.wav")", "abc") + part(R"(name="language")", "en") + end();
  EXPECT_EQ(extract_form_model(body, kB).status, ModelField::missing);
  // A file part named model is a part named model.
  const std::string named = part(R"(name="model"; filename="m.txt")", "x") + end();
  EXPECT_EQ(extract_form_model(named, kB).status, ModelField::present);
}

TEST(FormModel, DuplicateModelPartAfterTheFileIsRefused) {
  const std::string body = part(R"(name="model")", "allowed") + part(R"(name="file"; filename="a.wav")", std::string(100000, 'a')) +
                           part(R"(name="model")", "other") + end();
  EXPECT_EQ(extract_form_model(body, kB).status, ModelField::duplicate);
  // Spelled differently, the same name to python-multipart.
  const std::string escaped = part(R"(name="model")", "allowed") + part(R"(NAME="mod\el")", "other") + end();
  EXPECT_EQ(extract_form_model(escaped, kB).status, ModelField::duplicate);
}

TEST(FormModel, FormsThatHideANameAreRefused) {
  auto status = [](const std::string& body) { return extract_form_model(body, kB).status; };
  EXPECT_EQ(status(part(R"(name*=utf-8''model)", "x") + end()), ModelField::bad_form);
  EXPECT_EQ(status(part(R"(name="a"; name="model")", "x") + end()), ModelField::bad_form);
  EXPECT_EQ(status(part(R"(name="a")", "x", "Content-Disposition: form-data; name=\"model\"\r\n") + end()),
            ModelField::bad_form);
  EXPECT_EQ(status(part(R"(name="model")", "eA==", "Content-Transfer-Encoding: base64\r\n") + end()),
            ModelField::bad_form);
  EXPECT_EQ(status(part(R"(name="model")", "x", "Content-Transfer-Encoding: binary\r\n") + end()),
            ModelField::present);
}

TEST(FormModel, MalformedBodies) {
  auto problem = [](const std::string& body) {
    const auto found = extract_form_model(body, kB);
    EXPECT_EQ(found.status, ModelField::bad_form) << body;
    return std::string(found.problem);
  };
  EXPECT_EQ(problem("no delimiter at all"), "the body has no part with the Content-Type's boundary");
  EXPECT_EQ(problem(part(R"(name="model")", "x")), "the multipart body ends inside a part (no close delimiter)");
  EXPECT_EQ(problem("--" + std::string(kB) + "\r\nContent-Disposition: form-data; name=\"model\"\r\n"),
            "a part's headers do not end with an empty line within 8 KiB");
  EXPECT_EQ(problem("--" + std::string(kB) + "\r\n" + std::string(9000, 'h') + "\r\n\r\nx\r\n" + end()),
            "a part's headers do not end with an empty line within 8 KiB");
  EXPECT_EQ(problem("--" + std::string(kB) + "\r\n\r\nx\r\n" + end()),
            "a part has no Content-Disposition header (RFC 7578 §4.2)");
  EXPECT_EQ(problem(part("", "x") + end()), "a part's Content-Disposition is malformed");
  EXPECT_EQ(problem("--" + std::string(kB) + "x\r\n"), "a multipart delimiter is not followed by CRLF");
  EXPECT_EQ(problem(part(R"(name="unterminated)", "x") + end()), "a part's Content-Disposition is malformed");
  EXPECT_EQ(extract_form_model("", kB).status, ModelField::bad_form);
  EXPECT_EQ(extract_form_model(part("name=model", "x") + end(), "").status, ModelField::bad_form);
}

TEST(FormParts, WalksEveryPart) {
  const std::string body = part(R"(name="file"; filename="speech.mp3")", "ID3") + part("name=model", "whisper-1") +
                           part(R"(name="response_format")", "text") + end();
  http1::FormParts parts(body, kB);
  http1::FormPart p;
  ASSERT_TRUE(parts.next(p));
  EXPECT_EQ(p.name, "file");
  EXPECT_TRUE(p.is_file);
  EXPECT_EQ(p.content, "ID3");
  ASSERT_TRUE(parts.next(p));
  EXPECT_EQ(p.name, "model");
  EXPECT_FALSE(p.is_file);
  ASSERT_TRUE(parts.next(p));
  EXPECT_EQ(p.content, "text");
  EXPECT_FALSE(parts.next(p));
  EXPECT_EQ(parts.problem(), "");
  EXPECT_FALSE(parts.next(p));
}

}  // namespace
}  // namespace modelgate::proxy
