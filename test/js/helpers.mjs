// Starting real modelgate processes from JavaScript tests: simulated model servers and the gateway,
// on ports the kernel picks, stopped when the test ends.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const BIN = process.env.MODELGATE_BIN ?? new URL('../../build/modelgate', import.meta.url).pathname;

// Starts `args` and resolves once a line of its output matches `pattern` (with the match).
export function start(args, pattern, timeoutMs = 10000) {
  const child = spawn(BIN, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${args.join(' ')} did not start within ${timeoutMs} ms:\n${output}`));
    }, timeoutMs);
    const onData = (chunk) => {
      output += chunk;
      const m = output.match(pattern);
      if (m) {
        clearTimeout(timer);
        resolve({ child, match: m, output: () => output });
      }
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${args.join(' ')} exited with ${code}:\n${output}`));
    });
  });
}

export async function startSim(name, models, extra = []) {
  const { child, match } = await start(
    ['sim', '--listen', '127.0.0.1:0', '--name', name, '--models', models.join(','), ...extra],
    /sim \S+ listening on (\S+):(\d+)/);
  return { child, port: Number(match[2]), url: `http://127.0.0.1:${match[2]}` };
}

export async function startGateway(yaml) {
  const dir = mkdtempSync(join(tmpdir(), 'modelgate-js-'));
  const path = join(dir, 'modelgate.yaml');
  writeFileSync(path, yaml);
  const { child, output } = await start(['serve', '--config', path, '--workers', '2'], /modelgate: ready/);
  const m = output().match(/entry point web listening on \S+:(\d+)/);
  return { child, port: Number(m[1]), configPath: path };
}

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on('error', reject);
  });
}

export function stopAll(...children) {
  for (const c of children) if (c && c.exitCode === null) c.kill('SIGKILL');
}
