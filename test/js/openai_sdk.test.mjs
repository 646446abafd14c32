// The official OpenAI Node SDK, unchanged but for its base URL, talks to the gateway, with an API
// key (docs/auth.md): a wrong key is its AuthenticationError, a key over its limit its RateLimitError.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startGateway, startSim, stopAll } from './helpers.mjs';

const QWEN = 'Qwen2.5-0.5B-Instruct';
const GLM = 'glm4-9b-chat';
const KEY = 'sk-sdk-test';
let a, b, gw, client;

before(async () => {
  a = await startSim('vm02', [QWEN], ['--ttft-ms', '20', '--tpot-ms', '10']);
  b = await startSim('vm03', [QWEN, GLM], ['--ttft-ms', '20', '--tpot-ms', '10']);
  gw = await startGateway(`
entryPoints:
  web: {address: "127.0.0.1:0"}
auth:
  keys:
    - {name: sdk, key: ${KEY}}
    - {name: one-a-minute, key: sk-one-a-minute, limits: {requestsPerMinute: 1}}
http:
  routers:
    glm4: {rule: "Model(\`${GLM}\`)", service: machine-b}
    qwen: {rule: "Model(\`${QWEN}\`)", service: qwen-pool}
  services:
    qwen-pool: {loadBalancer: {servers: [{url: "${a.url}"}, {url: "${b.url}"}]}}
    machine-b: {loadBalancer: {servers: [{url: "${b.url}"}]}}
`);
  client = new OpenAI({ baseURL: `http://127.0.0.1:${gw.port}/v1`, apiKey: KEY, maxRetries: 0 });
});

after(() => stopAll(gw?.child, a?.child, b?.child));

test('non-streaming chat completion', async () => {
  const r = await client.chat.completions.create({
    model: GLM, max_tokens: 5, messages: [{ role: 'user', content: 'Hello' }],
  });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.model, GLM);
  assert.equal(r.system_fingerprint, 'vm03');
  assert.equal(r.usage.completion_tokens, 5);
  assert.ok(r.choices[0].message.content.length > 0);
});

test('streaming chat completion arrives as chunks', async () => {
  const stream = await client.chat.completions.create({
    model: QWEN, max_tokens: 8, stream: true, stream_options: { include_usage: true },
    messages: [{ role: 'user', content: 'Tell me a story' }],
  });
  let text = '';
  let chunks = 0;
  let usage = null;
  const servedBy = new Set();
  for await (const chunk of stream) {
    chunks++;
    servedBy.add(chunk.system_fingerprint);
    if (chunk.choices.length > 0) text += chunk.choices[0].delta.content ?? '';
    if (chunk.usage) usage = chunk.usage;
  }
  assert.ok(chunks >= 8, `expected at least 8 chunks, got ${chunks}`);
  assert.equal(servedBy.size, 1);
  assert.equal(usage.completion_tokens, 8);
  assert.match(text, /token1/);
});

test('requests for Qwen are balanced across both machines', async () => {
  const seen = new Map();
  for (let i = 0; i < 10; i++) {
    const r = await client.chat.completions.create({ model: QWEN, max_tokens: 1, messages: [] });
    seen.set(r.system_fingerprint, (seen.get(r.system_fingerprint) ?? 0) + 1);
  }
  // Each worker thread alternates; the SDK's connections may land on either worker.
  assert.ok(seen.get('vm02') >= 3 && seen.get('vm03') >= 3, JSON.stringify([...seen]));
  assert.equal(seen.get('vm02') + seen.get('vm03'), 10);
});

test('an unknown model surfaces as the SDK NotFoundError with the gateway message', async () => {
  await assert.rejects(
    client.chat.completions.create({ model: 'gpt-5', messages: [{ role: 'user', content: 'x' }] }),
    (err) => {
      assert.equal(err.status, 404);
      assert.equal(err.code, 'model_not_found');
      assert.match(err.message, /Qwen2\.5-0\.5B-Instruct/);
      return true;
    });
});

test('embeddings pass through', async () => {
  const r = await client.embeddings.create({ model: QWEN, input: ['hello', 'world'] });
  assert.equal(r.data.length, 2);
  assert.ok(r.data[0].embedding.length > 0);
});

test('models.list() and models.retrieve() get the gateway catalogue, without discovery', async () => {
  const ids = [];
  for await (const m of client.models.list()) {
    ids.push(m.id);
    assert.equal(m.object, 'model');
    assert.equal(m.owned_by, 'modelgate');
    assert.equal(m.modelgate.available, true);
  }
  assert.deepEqual(ids, [QWEN, GLM]);
  const glm = await client.models.retrieve(GLM);
  assert.equal(glm.id, GLM);
  assert.deepEqual(glm.modelgate.services, ['machine-b']);
  assert.deepEqual(glm.modelgate.servers.map((s) => s.url), [b.url]);
  await assert.rejects(client.models.retrieve('gpt-5'), (err) => {
    assert.equal(err.status, 404);
    assert.equal(err.code, 'model_not_found');
    return true;
  });
});

test('responses.create() without streaming', async () => {
  const r = await client.responses.create({ model: GLM, input: 'Tell me a story', max_output_tokens: 4 });
  assert.equal(r.object, 'response');
  assert.equal(r.status, 'completed');
  assert.equal(r.model, GLM);
  assert.equal(r.output_text, 'token1 token2 token3 token4 ');
  assert.equal(r.usage.output_tokens, 4);
  assert.equal(r.usage.input_tokens, 4);
});

test('responses.create() streamed: deltas, then response.completed with usage', async () => {
  const stream = await client.responses.create({
    model: QWEN, stream: true, max_output_tokens: 6,
    input: [{ role: 'user', content: 'Tell me a story' }],
  });
  const types = [];
  let text = '';
  let completed = null;
  for await (const event of stream) {
    types.push(event.type);
    if (event.type === 'response.output_text.delta') text += event.delta;
    if (event.type === 'response.completed') completed = event.response;
  }
  assert.equal(types[0], 'response.created');
  assert.equal(types.filter((t) => t === 'response.output_text.delta').length, 6);
  assert.equal(types.at(-1), 'response.completed');
  assert.equal(text, 'token1 token2 token3 token4 token5 token6 ');
  assert.equal(completed.usage.output_tokens, 6);
  assert.equal(completed.output[0].content[0].text, text);
});

test('a wrong key surfaces as the SDK AuthenticationError', async () => {
  const wrong = new OpenAI({ baseURL: `http://127.0.0.1:${gw.port}/v1`, apiKey: 'sk-wrong', maxRetries: 0 });
  await assert.rejects(
    wrong.chat.completions.create({ model: QWEN, max_tokens: 1, messages: [] }),
    (err) => {
      assert.ok(err instanceof OpenAI.AuthenticationError, err.constructor.name);
      assert.equal(err.code, 'invalid_api_key');
      return true;
    });
});

test('a key over its limit surfaces as the SDK RateLimitError with OpenAI headers', async () => {
  // Minute windows are aligned on the clock: both requests must fall in the same one.
  const into = Date.now() % 60000;
  if (into > 55000) await new Promise((r) => setTimeout(r, 60000 - into + 100));
  const limited = new OpenAI({ baseURL: `http://127.0.0.1:${gw.port}/v1`, apiKey: 'sk-one-a-minute', maxRetries: 0 });
  const { response } = await limited.chat.completions
    .create({ model: QWEN, max_tokens: 1, messages: [] })
    .withResponse();
  assert.equal(response.headers.get('x-ratelimit-limit-requests'), '1');
  assert.equal(response.headers.get('x-ratelimit-remaining-requests'), '0');
  await assert.rejects(
    limited.chat.completions.create({ model: QWEN, max_tokens: 1, messages: [] }),
    (err) => {
      assert.ok(err instanceof OpenAI.RateLimitError, err.constructor.name);
      assert.equal(err.status, 429);
      assert.equal(err.code, 'rate_limit_exceeded');
      assert.ok(Number(err.headers.get('retry-after')) >= 1, String(err.headers.get('retry-after')));
      assert.match(err.headers.get('x-ratelimit-reset-requests'), /^(\d+ms|(\d+m)?\d+(\.\d+)?s)$/);
      return true;
    });
});
