// TLS on the HTTP port: telosd --http with --tls-cert/--tls-key (certificates from
// scripts/make-certs.sh) answers HTTPS from a client that trusts the test CA, refuses plain HTTP
// with a 400 naming the scheme (and keeps serving), is refused by a client that does not trust
// the CA, and with --tls-ca requires a client certificate signed by that CA.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import https from 'node:https';
import { fileURLToPath } from 'node:url';
import { startTelosd, stopTelosd, tempDir, removeDir, call } from './telosd.mjs';

const makeCerts = fileURLToPath(new URL('../../scripts/make-certs.sh', import.meta.url));
let certs;
let dataDir;
let server;

/** One HTTPS request with node's own client; resolves to { status, json } or rejects. */
function request(url, method, path, body, tls = {}) {
  return new Promise((resolve, reject) => {
    const req = https.request(
      url + path,
      { method, headers: { 'content-type': 'application/json' }, ...tls },
      (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode, json: JSON.parse(text) }));
      },
    );
    req.on('error', reject);
    if (body !== undefined) req.write(JSON.stringify(body));
    req.end();
  });
}

before(async () => {
  certs = tempDir('telos-http-certs-');
  execFileSync(makeCerts, [certs, 'server', 'client'], { stdio: 'ignore' });
  dataDir = tempDir('telos-http-tls-');
  server = await startTelosd(dataDir, [
    '--tls-cert', `${certs}/server.pem`, '--tls-key', `${certs}/server.key`,
  ]);
});

after(async () => {
  if (server) await stopTelosd(server);
  removeDir(dataDir);
  removeDir(certs);
});

test('an HTTPS client that trusts the CA is served', async () => {
  assert.equal(server.line.tls, true);
  assert.match(server.url, /^https:\/\//);
  const ca = readFileSync(`${certs}/ca.pem`);
  const root = await request(server.url, 'GET', '/', undefined, { ca });
  assert.equal(root.status, 200);
  assert.match(root.json.title, /telos/);
  let r = await request(server.url, 'PUT', '/collections/notes',
    { vectors: { size: 3, distance: 'Dot' } }, { ca });
  assert.equal(r.status, 200);
  r = await request(server.url, 'PUT', '/collections/notes/points?wait=true',
    { points: [{ id: 1, vector: [1, 0, 0] }, { id: 2, vector: [0, 1, 0] }] }, { ca });
  assert.equal(r.status, 200);
  r = await request(server.url, 'POST', '/collections/notes/points/search',
    { vector: [0.2, 0.9, 0], limit: 1 }, { ca });
  assert.equal(r.status, 200);
  assert.deepEqual(r.json.result.map((p) => p.id), [2]);
});

test('plain HTTP to the TLS port gets a 400 naming the scheme, and the port keeps serving', async () => {
  const plain = server.url.replace('https://', 'http://');
  const r = await call(plain, 'GET', '/collections');
  assert.equal(r.status, 400);
  assert.match(r.json.status.error, /HTTPS/);
  const ca = readFileSync(`${certs}/ca.pem`);
  const after = await request(server.url, 'GET', '/collections', undefined, { ca });
  assert.equal(after.status, 200);
  assert.deepEqual(after.json.result.collections, [{ name: 'notes' }]);
});

test('a client that does not trust the CA refuses the server', async () => {
  await assert.rejects(request(server.url, 'GET', '/'), (err) => {
    assert.match(err.code, /SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER/);
    return true;
  });
});

test('with --tls-ca a client needs a certificate signed by that CA', async () => {
  const dir = tempDir('telos-http-mtls-');
  const mtls = await startTelosd(dir, [
    '--tls-cert', `${certs}/server.pem`, '--tls-key', `${certs}/server.key`,
    '--tls-ca', `${certs}/ca.pem`,
  ]);
  try {
    const ca = readFileSync(`${certs}/ca.pem`);
    await assert.rejects(request(mtls.url, 'GET', '/', undefined, { ca }));
    const r = await request(mtls.url, 'GET', '/', undefined, {
      ca, cert: readFileSync(`${certs}/client.pem`), key: readFileSync(`${certs}/client.key`),
    });
    assert.equal(r.status, 200);
  } finally {
    await stopTelosd(mtls);
    removeDir(dir);
  }
});
