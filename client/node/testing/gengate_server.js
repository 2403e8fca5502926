'use strict';
// Runs the real gengate binary (GENGATE_BINARY) on its built-in fake upstream for tests.
const { spawn } = require('node:child_process');
const readline = require('node:readline');

// Starts gengate on free loopback ports; resolves to {target, stop} once its "serving" line
// names the gRPC address. stop() sends SIGTERM and resolves to the exit code.
function startGengate() {
  const binary = process.env.GENGATE_BINARY;
  if (!binary) throw new Error('GENGATE_BINARY must name the gengate binary to test against');
  const server = spawn(binary,
    ['--upstream_url=fake', '--listen=127.0.0.1:0', '--admin_listen=127.0.0.1:0'],
    { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise((resolve) => server.on('exit', (code, signal) => resolve(signal || code)));
  return new Promise((resolve, reject) => {
    const lines = readline.createInterface({ input: server.stdout });
    lines.on('line', (line) => {
      let record;
      try {
        record = JSON.parse(line);
      } catch {
        return;
      }
      if (record.msg !== 'serving') return;
      resolve({
        target: record.listen,
        stop() {
          server.kill('SIGTERM');
          return exited;
        },
      });
    });
    exited.then((code) => reject(new Error(`gengate exited with ${code} before its serving line`)));
  });
}

module.exports = { startGengate };
