// Starts and stops a real `telosd --http` for the client tests: the binary comes from $TELOSD
// (CTest passes it), the server listens on a free loopback port, and its "listening" line tells
// the address.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export function telosdBinary() {
  const bin = process.env.TELOSD;
  if (!bin) throw new Error('set TELOSD to the telosd binary (CTest does)');
  return bin;
}

export function tempDir(prefix) {
  return mkdtempSync(join(tmpdir(), prefix));
}

export function removeDir(dir) {
  rmSync(dir, { recursive: true, force: true });
}

/** Starts telosd --http 127.0.0.1:0 on `dataDir`; resolves to { child, url } once it serves. */
export async function startTelosd(dataDir, extra = []) {
  const child = spawn(
    telosdBinary(),
    ['--http', '127.0.0.1:0', '--data-dir', dataDir, '--http-threads', '4', ...extra],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  return await new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error(`telosd did not start: ${stderr}`)), 60000);
    child.stdout.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      const line = JSON.parse(out.slice(0, nl));
      if (line.listening)
        resolve({ child, url: `${line.tls ? 'https' : 'http'}://${line.listening}`, line });
      else reject(new Error(`telosd failed: ${out} ${stderr}`));
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`telosd exited with ${code}: ${stderr}`));
    });
  });
}

/** Stops telosd with `signal` (SIGTERM: orderly; SIGKILL: a crash) and waits for it. */
export async function stopTelosd(server, signal = 'SIGTERM') {
  if (server.child.exitCode !== null) return;
  const exited = once(server.child, 'exit');
  server.child.kill(signal);
  await exited;
}

/** A raw JSON request, for endpoints and error cases the client does not expose. */
export async function call(url, method, path, body, headers = {}) {
  const res = await fetch(url + path, {
    method,
    headers: { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, text, json };
}
