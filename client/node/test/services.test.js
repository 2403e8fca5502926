'use strict';
// ResponsesService, ImagesService and EmbeddingsService through the Node client against the
// real gengate on its fake upstream.
const assert = require('node:assert/strict');
const { after, before, describe, test } = require('node:test');

const { grpc, createClient, callUnary } = require('../index.js');
const { startGengate } = require('../testing/gengate_server.js');

const TIMEOUT_MS = 30_000;
const PNG_SIGNATURE = Buffer.from('89504e470d0a1a0a', 'hex');

function readStream(stream) {
  return new Promise((resolve, reject) => {
    const messages = [];
    stream.on('data', (message) => messages.push(message));
    stream.on('error', reject);
    stream.on('end', () => resolve(messages));
  });
}

describe('ResponsesService, ImagesService, EmbeddingsService', () => {
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

  const options = () => ({ deadline: Date.now() + TIMEOUT_MS });

  test('CreateResponse echoes the input', async () => {
    const { response } = await callUnary(client.responses, 'CreateResponse',
      { model: 'gpt-4o-mini', input_text: 'Hello there' }, options());
    assert.equal(response.output_text, 'Echo: Hello there');
    assert.equal(response.status, 'RESPONSE_STATUS_COMPLETED');
    assert.deepEqual(response.output.map((item) => item.type), ['message']);
    assert.deepEqual(
      [response.usage.input_tokens, response.usage.output_tokens, response.usage.total_tokens],
      [2, 3, 5]);
  });

  test('StreamResponse sends typed events in order', async () => {
    const events = await readStream(client.responses.StreamResponse(
      { model: 'gpt-4o-mini', input_text: 'Hello there' }, options()));
    assert.deepEqual(events.map((event) => event.sequence_number), events.map((_, i) => i));
    assert.equal(events[0].type, 'response.created');
    const deltas = events.filter((event) => event.type === 'response.output_text.delta')
      .map((event) => event.delta);
    assert.equal(deltas.join(''), 'Echo: Hello there');
    assert.ok(deltas.length >= 3, `only ${deltas.length} deltas`);
    const last = events.at(-1);
    assert.equal(last.type, 'response.completed');
    assert.equal(last.response.status, 'RESPONSE_STATUS_COMPLETED');
    assert.equal(last.response.usage.total_tokens, 5);
  });

  test('GenerateImages returns PNG bytes', async () => {
    const { response } = await callUnary(client.images, 'GenerateImages', {
      model: 'gpt-image-1', prompt: 'a red square', n: 2,
      response_format: 'IMAGE_RESPONSE_FORMAT_IMAGE_DATA',
    }, options());
    assert.equal(response.data.length, 2);
    for (const image of response.data) {
      assert.ok(image.image_data.subarray(0, 8).equals(PNG_SIGNATURE), 'not a PNG');
      assert.equal(image.revised_prompt, 'A fake image of: a red square');
    }
  });

  test('GenerateImages as URLs', async () => {
    const { response } = await callUnary(client.images, 'GenerateImages', {
      model: 'dall-e-3', prompt: 'a red square', response_format: 'IMAGE_RESPONSE_FORMAT_URL',
    }, options());
    assert.equal(response.data.length, 1);
    assert.match(response.data[0].url, /^https:\/\//);
    assert.equal(response.data[0].image_data.length, 0);
  });

  test('EditImage uploads the input image', async () => {
    const generated = await callUnary(client.images, 'GenerateImages',
      { model: 'gpt-image-1', prompt: 'a red square' }, options());
    const { response } = await callUnary(client.images, 'EditImage', {
      model: 'gpt-image-1',
      prompt: 'make it blue',
      images: [{
        data: generated.response.data[0].image_data, filename: 'square.png', mime_type: 'image/png',
      }],
    }, options());
    assert.equal(response.data.length, 1);
    assert.ok(response.data[0].image_data.subarray(0, 8).equals(PNG_SIGNATURE), 'not a PNG');
    assert.equal(response.data[0].revised_prompt, 'A fake edit of 1 image: make it blue');
  });

  test('CreateEmbeddings returns one unit vector per input', async () => {
    const request = {
      model: 'text-embedding-3-small', input: ['first text', 'second text'], dimensions: 8,
    };
    const { response } = await callUnary(client.embeddings, 'CreateEmbeddings', request, options());
    assert.deepEqual(response.data.map((embedding) => embedding.index), [0, 1]);
    for (const { embedding } of response.data) {
      assert.equal(embedding.length, 8);
      const normSquared = embedding.reduce((sum, value) => sum + value * value, 0);
      assert.ok(Math.abs(normSquared - 1) < 1e-4, `norm² ${normSquared}`);
    }
    assert.notDeepEqual(response.data[0].embedding, response.data[1].embedding);
    assert.deepEqual([response.usage.prompt_tokens, response.usage.total_tokens], [4, 4]);
    const again = await callUnary(client.embeddings, 'CreateEmbeddings', request, options());
    assert.deepEqual(again.response, response);
  });

  test('the new services reject an empty model', async (t) => {
    const calls = {
      CreateResponse: () => callUnary(client.responses, 'CreateResponse',
        { input_text: 'Hi' }, options()),
      GenerateImages: () => callUnary(client.images, 'GenerateImages',
        { prompt: 'a cat' }, options()),
      CreateEmbeddings: () => callUnary(client.embeddings, 'CreateEmbeddings',
        { input: ['a'] }, options()),
    };
    for (const [name, call] of Object.entries(calls)) {
      await t.test(name, async () => {
        await assert.rejects(call(), (error) => {
          assert.equal(error.code, grpc.status.INVALID_ARGUMENT);
          return true;
        });
      });
    }
  });
});
