// parse_model_list against the model-list responses of the servers modelgate balances, as they
// send them (trimmed to one or two models; field order and extra fields kept).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "discovery/model_discovery.h"

namespace {

using modelgate::discovery::parse_model_list;
using List = std::vector<std::string>;

TEST(ModelList, Vllm) {
  // vLLM /v1/models, with a LoRA adapter listed beside its base model.
  const char* body = R"({"object":"list","data":[
    {"id":"Qwen/Qwen2.5-0.5B-Instruct","object":"model","created":1718000000,"owned_by":"vllm",
     "root":"Qwen/Qwen2.5-0.5B-Instruct","parent":null,"max_model_len":32768,
     "permission":[{"id":"modelperm-3c5a","object":"model_permission","created":1718000000,
       "allow_create_engine":false,"allow_sampling":true,"allow_logprobs":true,
       "allow_search_indices":false,"allow_view":true,"allow_fine_tuning":false,
       "organization":"*","group":null,"is_blocking":false}]},
    {"id":"sql-lora","object":"model","created":1718000000,"owned_by":"vllm",
     "root":"/adapters/sql-lora","parent":"Qwen/Qwen2.5-0.5B-Instruct","max_model_len":null,
     "permission":[]}]})";
  EXPECT_EQ(parse_model_list(body), (List{"Qwen/Qwen2.5-0.5B-Instruct", "sql-lora"}));
}

TEST(ModelList, Sglang) {
  const char* body = R"({"object":"list","data":[{"id":"meta-llama/Llama-3.1-8B-Instruct",
    "object":"model","created":1735000000,"owned_by":"sglang",
    "root":"meta-llama/Llama-3.1-8B-Instruct","max_model_len":131072}]})";
  EXPECT_EQ(parse_model_list(body), (List{"meta-llama/Llama-3.1-8B-Instruct"}));
}

TEST(ModelList, Tgi) {
  // TGI /v1/models: one entry, the model id, created 0.
  const char* body = R"({"object":"list","data":[{"id":"HuggingFaceH4/zephyr-7b-beta",
    "object":"model","created":0,"owned_by":"HuggingFaceH4/zephyr-7b-beta"}]})";
  EXPECT_EQ(parse_model_list(body), (List{"HuggingFaceH4/zephyr-7b-beta"}));
  // TGI /info, for a discovery path pointed there.
  const char* info = R"({"model_id":"HuggingFaceH4/zephyr-7b-beta","model_sha":"b70e0c9a",
    "model_dtype":"torch.float16","model_device_type":"cuda","max_concurrent_requests":128,
    "max_input_tokens":4095,"max_total_tokens":4096,"router":"text-generation-router","version":"2.4.0"})";
  EXPECT_EQ(parse_model_list(info), (List{"HuggingFaceH4/zephyr-7b-beta"}));
}

TEST(ModelList, Xinference) {
  const char* body = R"({"object":"list","data":[{"id":"qwen2.5-instruct","object":"model","created":0,
    "owned_by":"xinference","model_type":"LLM","address":"0.0.0.0:41235","accelerators":["0"],
    "model_name":"qwen2.5-instruct","model_lang":["en","zh"],"model_ability":["generate","chat"],
    "model_description":"Qwen2.5 is the latest series of Qwen large language models.",
    "model_format":"pytorch","model_size_in_billions":7,"model_family":"qwen2.5-instruct",
    "quantization":"none","model_hub":"huggingface","revision":null,"context_length":32768,
    "replica":1},
    {"id":"bge-m3","object":"model","created":0,"owned_by":"xinference","model_type":"embedding",
     "address":"0.0.0.0:41236","accelerators":["0"],"model_name":"bge-m3","dimensions":1024,
     "max_tokens":8192,"language":["zh","en"],"model_revision":null,"replica":1}]})";
  EXPECT_EQ(parse_model_list(body), (List{"qwen2.5-instruct", "bge-m3"}));
  // Nothing launched yet: an empty list is a valid answer.
  EXPECT_EQ(parse_model_list(R"({"object":"list","data":[]})"), List{});
}

TEST(ModelList, LlamaCppServer) {
  // llama.cpp's server answers /v1/models, /models and /api/tags with both shapes in one object;
  // the OpenAI "data" wins.
  const char* body = R"({"models":[{"name":"qwen2.5-0.5b-instruct-q8_0.gguf",
    "model":"qwen2.5-0.5b-instruct-q8_0.gguf","modified_at":"","size":"","digest":"","type":"model",
    "description":"","tags":[""],"capabilities":["completion"],"parameters":"",
    "details":{"parent_model":"","format":"gguf","family":"","families":[""],"parameter_size":"",
    "quantization_level":""}}],
    "object":"list","data":[{"id":"qwen2.5-0.5b-instruct-q8_0.gguf","object":"model",
    "created":1735689600,"owned_by":"llamacpp","meta":{"vocab_type":2,"n_vocab":151936,
    "n_ctx_train":32768,"n_embd":896,"n_params":494032768,"size":531118080}}]})";
  EXPECT_EQ(parse_model_list(body), (List{"qwen2.5-0.5b-instruct-q8_0.gguf"}));
  // An older build: "data" only, and "meta" null while the model loads.
  EXPECT_EQ(parse_model_list(R"({"object":"list","data":[{"id":"models/7B/ggml-model.gguf",
    "object":"model","created":1700000000,"owned_by":"llamacpp","meta":null}]})"),
            (List{"models/7B/ggml-model.gguf"}));
}

TEST(ModelList, OllamaTags) {
  const char* body = R"({"models":[{"name":"llama3.2:latest","model":"llama3.2:latest",
    "modified_at":"2024-10-01T10:00:00.123456-07:00","size":2019393189,
    "digest":"a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
    "details":{"parent_model":"","format":"gguf","family":"llama","families":["llama"],
    "parameter_size":"3.2B","quantization_level":"Q4_K_M"}},
    {"name":"nomic-embed-text:latest","model":"nomic-embed-text:latest",
    "modified_at":"2024-09-01T10:00:00-07:00","size":274302450,"digest":"0a109f422b47",
    "details":{"parent_model":"","format":"gguf","family":"nomic-bert","families":["nomic-bert"],
    "parameter_size":"137M","quantization_level":"F16"}}]})";
  EXPECT_EQ(parse_model_list(body), (List{"llama3.2:latest", "nomic-embed-text:latest"}));
  EXPECT_EQ(parse_model_list(R"({"models":[]})"), List{});
}

TEST(ModelList, OllamaOpenAi) {
  const char* body = R"({"object":"list","data":[{"id":"llama3.2:latest","object":"model",
    "created":1727800000,"owned_by":"library"},{"id":"qwen2.5:0.5b","object":"model",
    "created":1727700000,"owned_by":"library"}]})";
  EXPECT_EQ(parse_model_list(body), (List{"llama3.2:latest", "qwen2.5:0.5b"}));
}

TEST(ModelList, LenientShapes) {
  EXPECT_EQ(parse_model_list(R"([{"id":"a"},{"id":"b"}])"), (List{"a", "b"}));
  EXPECT_EQ(parse_model_list(R"(["a","b"])"), (List{"a", "b"}));
  EXPECT_EQ(parse_model_list(R"({"models":[{"model":"m1"},{"id":"m2"}]})"), (List{"m1", "m2"}));
  EXPECT_EQ(parse_model_list(R"({"data":[{"id":"x"}]})"), List{"x"});  // no "object" needed
  EXPECT_EQ(parse_model_list(R"([])"), List{});
}

TEST(ModelList, DuplicatesAndNamelessEntriesAreDropped) {
  EXPECT_EQ(parse_model_list(R"({"data":[{"id":"a"},{"id":"b"},{"id":"a"}]})"), (List{"a", "b"}));
  EXPECT_EQ(parse_model_list(R"({"data":[{"id":"a"},{"object":"model"},{"id":""},{"id":7}]})"),
            List{"a"});
}

TEST(ModelList, NotAList) {
  EXPECT_EQ(parse_model_list(""), std::nullopt);
  EXPECT_EQ(parse_model_list("<html><body>Bad Gateway</body></html>"), std::nullopt);
  EXPECT_EQ(parse_model_list(R"({"status":"ok"})"), std::nullopt);  // a health answer
  EXPECT_EQ(parse_model_list(R"({"error":{"message":"Not Found","type":"invalid_request_error"}})"),
            std::nullopt);
  EXPECT_EQ(parse_model_list(R"({"data":{"id":"a"}})"), std::nullopt);  // data must be a list
  EXPECT_EQ(parse_model_list(R"([1,2,3])"), std::nullopt);  // entries, none with a name
  EXPECT_EQ(parse_model_list(R"({"object":"list","data":[{"id":"a"})"), std::nullopt);  // truncated
  EXPECT_EQ(parse_model_list("\"a\""), std::nullopt);
}

}  // namespace
