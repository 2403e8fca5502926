'use strict';
// Asks gengate for one chat completion and then streams another, printing the answers.
//   GENGATE_TARGET=127.0.0.1:50051 node example.js Hello there
const { createClient, callUnary, requestIdMetadata, REQUEST_ID_KEY } = require('./index.js');

async function main() {
  const target = process.env.GENGATE_TARGET || '127.0.0.1:50051';
  const prompt = process.argv.slice(2).join(' ') || 'Hello there';
  const request = {
    model: 'gpt-4o-mini',
    messages: [{ role: 'ROLE_USER', content: prompt }],
  };
  const client = createClient(target);
  const deadline = Date.now() + 30_000;
  try {
    // Unary: the whole answer at once; the initial metadata carries the request id.
    const { response, metadata } = await callUnary(client.chat, 'CreateChatCompletion', request,
      { metadata: requestIdMetadata('example-node'), deadline });
    console.log(`unary: ${response.choices[0].message.content}`);
    console.log(`request id: ${metadata.get(REQUEST_ID_KEY)[0]}`);

    // Streaming: one chunk per upstream event; the last one carries the usage.
    process.stdout.write('stream: ');
    const stream = client.chat.StreamChatCompletion(request, { deadline });
    for await (const chunk of stream) {
      for (const choice of chunk.choices) process.stdout.write(choice.delta.content || '');
      if (chunk.usage) console.log(`\nusage: ${chunk.usage.total_tokens} tokens`);
    }
  } finally {
    client.close();
  }
}

main().catch((error) => {
  console.error(`gengate call failed: ${error.message}`);
  process.exitCode = 1;
});
