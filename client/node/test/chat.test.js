'use strict';
// ChatService through the Node client against the real gengate on its fake upstream.
const assert = require('node:assert/strict');
const { execFile } = require('node:child_process');
const path = require('node:path');
const { after, before, describe, test } = require('node:test');
const { promisify } = require('node:util');

const {
  grpc, createClient, callUnary, requestIdMetadata, errorInfo, retryDelayMs,
  REQUEST_ID_KEY, UPSTREAM_REQUEST_ID_KEY,
} = require('../index.js');
const { startGengate } = require('../testing/gengate_server.js');

const TIMEOUT_MS = 30_000;

function chatRequest(model, prompt) {
  return { model, messages: [{ role: 'ROLE_USER', content: prompt }] };
}

// Reads a server stream to its end: resolves to the messages, or rejects with the error
// (which carries the messages read before it as `received`).
function readStream(stream) {
  return new Promise((resolve, reject) => {
    const messages = [];
    stream.on('data', (message) => messages.push(message));
    stream.on('error', (error) => {
      error.received = messages;
      reject(error);
    });
    stream.on('end', () => resolve(messages));
  });
}

describe('ChatService', () => {
  let server;
  let client;

  before(async () => {
    server = await startGengate();
    client = createClient(server.target);
  });

  after(async () => {
    client.close();
    assert.equal(await server.stop(), 0, 'gengate did not exit cleanly on SIGTERM');
  });

  const deadline = () => Date.now() + TIMEOUT_MS;

  test('CreateChatCompletion echoes the prompt', async () => {
    const { response } = await callUnary(client.chat, 'CreateChatCompletion',
      chatRequest('gpt-4o-mini', 'Hello there'), { deadline: deadline() });
    assert.equal(response.choices.length, 1);
    const [choice] = response.choices;
    assert.equal(choice.message.content, 'Echo: Hello there');
    assert.equal(choice.message.role, 'ROLE_ASSISTANT');
    assert.equal(choice.finish_reason, 'FINISH_REASON_STOP');
    assert.equal(response.model, 'gpt-4o-mini');
    assert.deepEqual(
      [response.usage.prompt_tokens, response.usage.completion_tokens, response.usage.total_tokens],
      [2, 3, 5]);
  });

  test('StreamChatCompletion sends chunks, then the usage', async () => {
    const chunks = await readStream(client.chat.StreamChatCompletion(
      chatRequest('gpt-4o-mini', 'Hello there'), { deadline: deadline() }));
    const pieces = chunks.flatMap((chunk) => chunk.choices)
      .map((choice) => choice.delta.content).filter((piece) => piece);
    assert.equal(pieces.join(''), 'Echo: Hello there');
    assert.ok(pieces.length >= 3, `only ${pieces.length} content chunks`);
    assert.equal(chunks[0].choices[0].delta.role, 'ROLE_ASSISTANT');
    assert.equal(chunks.at(-2).choices[0].finish_reason, 'FINISH_REASON_STOP');
    const last = chunks.at(-1);
    assert.equal(last.choices.length, 0);
    assert.equal(last.usage.total_tokens, 5);
    assert.ok(chunks.slice(0, -1).every((chunk) => chunk.usage === null),
      'a chunk before the last carries usage');
  });

  test('a cancel mid-stream ends the stream CANCELLED', async () => {
    // A long prompt makes a long echo: thousands of chunks, so the stream is still running
    // when the first one arrives.
    const stream = client.chat.StreamChatCompletion(
      chatRequest('gpt-4o-mini', Array(2000).fill('word').join(' ')), { deadline: deadline() });
    const ended = readStream(stream);
    stream.once('data', () => stream.cancel());
    const error = await ended.then(
      (chunks) => assert.fail(`the stream ended OK after ${chunks.length} chunks`),
      (failure) => failure);
    assert.equal(error.code, grpc.status.CANCELLED);
    assert.ok(error.received.length < 2003, 'every chunk arrived before the cancel');
  });

  test('an empty model is INVALID_ARGUMENT', async (t) => {
    const calls = {
      CreateChatCompletion: (request) => callUnary(client.chat, 'CreateChatCompletion', request,
        { deadline: deadline() }),
      StreamChatCompletion: (request) => readStream(
        client.chat.StreamChatCompletion(request, { deadline: deadline() })),
    };
    for (const [name, call] of Object.entries(calls)) {
      await t.test(name, async () => {
        await assert.rejects(call(chatRequest('', 'Hello there')), (error) => {
          assert.equal(error.code, grpc.status.INVALID_ARGUMENT);
          assert.match(error.details, /model/);
          // gengate rejected the request itself: no upstream, so no upstream error code.
          assert.equal(errorInfo(error), null);
          return true;
        });
      });
    }
  });

  test('upstream errors map to codes with ErrorInfo', async (t) => {
    // The fake upstream answers a model named fake-error-<status> with that HTTP status.
    const cases = [
      ['400', grpc.status.INVALID_ARGUMENT, 'invalid_request', null],
      ['401', grpc.status.UNAUTHENTICATED, 'invalid_api_key', null],
      ['403', grpc.status.PERMISSION_DENIED, 'permission_denied', null],
      ['404', grpc.status.NOT_FOUND, 'model_not_found', null],
      ['409', grpc.status.ABORTED, 'conflict', null],
      ['429', grpc.status.RESOURCE_EXHAUSTED, 'rate_limit_exceeded', 1000],
      ['500', grpc.status.INTERNAL, 'server_error', null],
      ['503', grpc.status.UNAVAILABLE, 'service_unavailable', 1000],
      ['504', grpc.status.DEADLINE_EXCEEDED, 'timeout', null],
    ];
    for (const [httpStatus, code, reason, delayMs] of cases) {
      await t.test(httpStatus, async () => {
        const model = `fake-error-${httpStatus}`;
        const requestId = `node-error-${httpStatus}`;
        await assert.rejects(
          callUnary(client.chat, 'CreateChatCompletion', chatRequest(model, 'Hello there'),
            { metadata: requestIdMetadata(requestId), deadline: deadline() }),
          (error) => {
            assert.equal(error.code, code);
            assert.ok(error.details.includes(model), error.details);
            const info = errorInfo(error);
            assert.equal(info.reason, reason);
            assert.ok(info.domain);
            assert.equal(info.metadata.http_status, httpStatus);
            assert.equal(info.metadata.upstream_request_id, requestId);
            assert.equal(retryDelayMs(error), delayMs);
            return true;
          });
      });
    }
  });

  test('the request id comes back in metadata', async () => {
    const { metadata, trailers } = await callUnary(client.chat, 'CreateChatCompletion',
      chatRequest('gpt-4o-mini', 'Hi'),
      { metadata: requestIdMetadata('node-unary-id'), deadline: deadline() });
    assert.deepEqual(metadata.get(REQUEST_ID_KEY), ['node-unary-id']);
    // The fake upstream echoes X-Request-Id as its own request id.
    assert.deepEqual(trailers.get(UPSTREAM_REQUEST_ID_KEY), ['node-unary-id']);

    const stream = client.chat.StreamChatCompletion(chatRequest('gpt-4o-mini', 'Hi'),
      requestIdMetadata('node-stream-id'), { deadline: deadline() });
    const header = new Promise((resolve) => stream.once('metadata', resolve));
    const chunks = await readStream(stream);
    assert.ok(chunks.length > 0);
    assert.deepEqual((await header).get(REQUEST_ID_KEY), ['node-stream-id']);
  });

  test('a request id is made when the call has none', async () => {
    const ids = new Set();
    for (let i = 0; i < 2; i++) {
      const { metadata } = await callUnary(client.chat, 'CreateChatCompletion',
        chatRequest('gpt-4o-mini', 'Hi'), { deadline: deadline() });
      const [id] = metadata.get(REQUEST_ID_KEY);
      assert.ok(id, 'no request id in the initial metadata');
      ids.add(id);
    }
    assert.equal(ids.size, 2, 'two calls got the same made-up request id');
  });

  // The README's Node snippet is example.js; this runs it against the test server.
  test('example.js runs against gengate', async () => {
    const { stdout } = await promisify(execFile)(process.execPath,
      [path.join(__dirname, '..', 'example.js'), 'Hello', 'from', 'Node'],
      { env: { ...process.env, GENGATE_TARGET: server.target }, timeout: 60_000 });
    assert.equal(stdout, 'unary: Echo: Hello from Node\n'
      + 'request id: example-node\n'
      + 'stream: Echo: Hello from Node\n'
      + 'usage: 7 tokens\n');
  });
});
