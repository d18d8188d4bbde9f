// Telos's own endpoints beside the Qdrant dialect (/telos/collections/{name}/…): edges between
// points (add, list, remove), traversal, quads (add, match with paging, remove), verify, flush,
// checkpoint and stats, each answer in Qdrant's envelope and each bad request a 4xx naming the
// field that changes nothing.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { QdrantClient } from '@qdrant/js-client-rest';
import { startTelosd, stopTelosd, tempDir, removeDir, call } from './telosd.mjs';

const NAME = 'graph';
const UUID = '6f1c2d3e-4a5b-4c6d-8e7f-901234567890';
let server;
let client;
let dir;

const telos = async (method, path, body, status = 200) => {
  const r = await call(server.url, method, `/telos/collections/${NAME}${path}`, body);
  assert.equal(r.status, status, `${method} ${path}: ${r.text}`);
  assert.equal(typeof r.json.time, 'number');
  if (status === 200) assert.equal(r.json.status, 'ok');
  return status === 200 ? r.json.result : r.json.status.error;
};

before(async () => {
  dir = tempDir('telos-http-own-');
  server = await startTelosd(dir);
  client = new QdrantClient({ url: server.url, checkCompatibility: false });
  await client.createCollection(NAME, { vectors: { size: 2, distance: 'Cosine' } });
  const ids = [1, 2, 3, 4, 5, UUID];
  await client.upsert(NAME, {
    wait: true,
    points: ids.map((id, i) => ({ id, vector: [1, i + 1], payload: { i } })),
  });
});

after(async () => {
  if (server) await stopTelosd(server);
  removeDir(dir);
});

test('edges: add, list by direction and type, remove', async () => {
  const added = await telos('PUT', '/edges', {
    edges: [
      { source: 1, target: 2, type: 'cites' },
      { source: 2, target: 3, type: 'cites', weight: 0.5 },
      { source: 3, target: UUID, type: 'about', namespace: 'notes', attributes: { why: 'test' } },
      { source: 1, target: 4, type: 'about' },
    ],
  });
  assert.deepEqual(added, { added: 4 });
  const out = await telos('POST', '/edges/list', { point: 1 });
  // Grouped by type in the store's term order (not alphabetical): sorted here.
  assert.deepEqual(out.edges.sort((a, b) => a.target - b.target), [
    { source: 1, target: 2, type: 'cites', namespace: 'default', weight: 1, attributes: {} },
    { source: 1, target: 4, type: 'about', namespace: 'default', weight: 1, attributes: {} },
  ]);
  const into = await telos('POST', '/edges/list', { point: UUID, direction: 'in' });
  assert.deepEqual(into.edges, [{
    source: 3, target: UUID, type: 'about', namespace: 'notes', weight: 1, attributes: { why: 'test' },
  }]);
  const both = await telos('POST', '/edges/list', { point: 2, direction: 'both', types: ['cites'] });
  assert.deepEqual(both.edges.map((e) => [e.source, e.target]), [[2, 3], [1, 2]]);
  const limited = await telos('POST', '/edges/list', { point: 1, limit: 1 });
  assert.equal(limited.edges.length, 1);

  const removed = await telos('POST', '/edges/delete', {
    edges: [{ source: 1, target: 4, type: 'about' }, { source: 1, target: 5, type: 'about' }],
  });
  assert.deepEqual(removed, { removed: [true, false] });
  assert.deepEqual((await telos('POST', '/edges/list', { point: 1 })).edges.map((e) => e.target), [2]);
});

test('traverse: shortest paths by depth, direction and type', async () => {
  const r = await telos('POST', '/traverse', { start: 1, depth: 3 });
  assert.deepEqual(r.paths, [
    { nodes: [1, 2], types: ['cites'], directions: ['out'] },
    { nodes: [1, 2, 3], types: ['cites', 'cites'], directions: ['out', 'out'] },
    { nodes: [1, 2, 3, UUID], types: ['cites', 'cites', 'about'], directions: ['out', 'out', 'out'] },
  ]);
  const shallow = await telos('POST', '/traverse', { start: 1, depth: 3, types: ['cites'], limit: 1 });
  assert.deepEqual(shallow.paths.map((p) => p.nodes), [[1, 2]]);
  const back = await telos('POST', '/traverse', { start: 3, direction: 'in', depth: 2 });
  assert.deepEqual(back.paths.map((p) => p.nodes), [[3, 2], [3, 2, 1]]);
  assert.deepEqual(back.paths[0].directions, ['in']);
});

test('quads: add, match with paging, remove', async () => {
  const quads = Array.from({ length: 5 }, (_, i) => ({ s: 'alice', p: 'knows', o: `friend${i}`, c: 'work' }));
  quads.push({ s: 'bob', p: 'likes', o: 'tea' });
  assert.deepEqual(await telos('PUT', '/quads', { quads }), { added: 6 });
  const all = await telos('POST', '/quads/match', { s: 'alice' });
  assert.equal(all.quads.length, 5);
  assert.equal(all.next, null);
  const seen = [];
  let after;
  for (;;) {
    const page = await telos('POST', '/quads/match', { s: 'alice', p: 'knows', limit: 2, after });
    seen.push(...page.quads);
    if (page.next === null) break;
    after = page.next;
  }
  assert.deepEqual(seen.map((q) => q.o).sort(), quads.slice(0, 5).map((q) => q.o));
  assert.deepEqual((await telos('POST', '/quads/match', { o: 'tea' })).quads,
    [{ s: 'bob', p: 'likes', o: 'tea', c: '' }]);
  const removed = await telos('POST', '/quads/delete', { quads: [quads[5], { s: 'x', p: 'y', o: 'z' }] });
  assert.deepEqual(removed, { removed: [true, false] });
  assert.deepEqual((await telos('POST', '/quads/match', { o: 'tea' })).quads, []);
});

test('deleting a point removes its edges', async () => {
  await client.delete(NAME, { wait: true, points: [3] });
  assert.deepEqual((await telos('POST', '/edges/list', { point: 2, direction: 'both' })).edges
    .map((e) => [e.source, e.target]), [[1, 2]]);
});

test('verify, flush, checkpoint and stats', async () => {
  const v = await telos('POST', '/verify', {});
  assert.equal(v.consistent, true);
  assert.equal(v.records_checked, 5);
  assert.deepEqual(v.problems, []);
  const repaired = await telos('POST', '/verify', { repair: true });
  assert.equal(repaired.consistent, true);
  assert.deepEqual(await telos('POST', '/flush'), { flushed: true });
  const cp = await telos('POST', '/checkpoint', { name: 'monday' });
  assert.equal(cp.checkpoint, 'monday');
  assert.ok(existsSync(join(cp.path, 'store')), cp.path);
  assert.ok(existsSync(join(cp.path, 'collection.json')));
  assert.match(await telos('POST', '/checkpoint', { name: 'monday' }, 409), /monday/);
  const st = await telos('GET', '/stats');
  assert.equal(st.memories, 5);
  assert.equal(st.backend, 'rocksdb');
  assert.equal(st.indexes.length, 1);
  assert.equal(st.indexes[0].vector, '');
  assert.equal(st.indexes[0].vectors, 5);
  assert.ok(st.disk_bytes > 0);
  assert.deepEqual(st.payload_index_slots, { used: 0, total: 16 });
});

test('bad requests name the field and change nothing', async () => {
  const cases = [
    ['PUT', '/edges', { edges: [{ source: 1, target: 99, type: 'cites' }] }, 404, /edges\[0\]\.target/],
    ['PUT', '/edges', { edges: [{ source: 1, target: 2, type: 'x' }, { source: 1, target: 2 }] }, 400, /edges\[1\]\.type/],
    ['PUT', '/edges', { edges: [{ source: 1, target: 2, type: 'x', weight: 'heavy' }] }, 400, /edges\[0\]\.weight/],
    ['PUT', '/edges', { edges: [{ source: -1, target: 2, type: 'x' }] }, 400, /edges\[0\]\.source/],
    ['PUT', '/edges', { edges: [{ source: 1, target: 2, type: 'x', colour: 'red' }] }, 400, /edges\[0\]\.colour/],
    ['PUT', '/edges', { edges: [] }, 400, /edges/],
    ['POST', '/edges/list', { point: 1, direction: 'sideways' }, 400, /direction/],
    ['POST', '/edges/list', {}, 400, /point/],
    ['POST', '/traverse', { start: 1, depth: 17 }, 400, /depth/],
    ['POST', '/traverse', { start: 1, types: 'cites' }, 400, /types/],
    ['POST', '/traverse', { start: 42 }, 404, /start/],
    ['PUT', '/quads', { quads: [{ s: 'a', p: 'b' }] }, 400, /quads\[0\]\.o/],
    ['POST', '/quads/match', { s: 'a', limit: 0 }, 400, /limit/],
    ['POST', '/quads/match', { after: 'xyz' }, 400, /after/],
    ['POST', '/verify', { repair: 'yes' }, 400, /repair/],
    ['POST', '/checkpoint', { name: '../escape' }, 400, /name/],
    ['POST', '/checkpoint', {}, 400, /name/],
    ['GET', '/verify', undefined, 405, /not allowed/],
    ['GET', '/nothing', undefined, 404, /nothing/],
  ];
  for (const [method, path, body, status, pattern] of cases)
    assert.match(await telos(method, path, body, status), pattern, `${method} ${path}`);
  assert.deepEqual((await telos('POST', '/edges/list', { point: 1 })).edges.map((e) => e.target), [2]);
  assert.equal((await telos('POST', '/quads/match', { s: 'a' })).quads.length, 0);
  const none = await call(server.url, 'GET', '/telos/collections/nope/stats');
  assert.equal(none.status, 404);
  assert.match(none.json.status.error, /nope/);
});
