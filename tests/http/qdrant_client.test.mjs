// @qdrant/js-client-rest (and raw requests for the search endpoints the client no longer has)
// against a real telosd --http: collections with named dense, Euclid, sparse and multi vectors,
// upserts with payloads, every search form against brute force, filters against the same filters
// evaluated here, scroll, count, payload updates, deletes, an all-or-nothing batch, a crash and
// restart with every acknowledged point present after, the API key and /metrics.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { QdrantClient } from '@qdrant/js-client-rest';
import { startTelosd, stopTelosd, tempDir, removeDir, call } from './telosd.mjs';
import {
  lcg, normalize, dot, euclid, sparseDot, maxSim, admits, ranked,
} from './reference.mjs';

const NAME = 'memories';
const rand = lcg(16);
const cities = ['Berlin', 'Paris', 'Lisbon', 'Oslo'];
const uuidOf = (i) => {
  const hex = (n, w) => n.toString(16).padStart(w, '0');
  return `${hex(0x1000 + i, 8)}-${hex(i, 4)}-4${hex(i, 3)}-8${hex(i, 3)}-${hex(i * 7919, 12)}`;
};
const vec = (n) => Array.from({ length: n }, () => rand() * 2 - 1);

function makePoint(i) {
  const id = i < 90 ? i : uuidOf(i);
  const indices = [...new Set([Math.floor(rand() * 50), Math.floor(rand() * 50), 7 + (i % 5)])];
  const payload = {
    city: cities[i % cities.length],
    n: i,
    tags: i % 3 === 0 ? ['red', 'blue'] : ['green'],
    meta: { score: Math.round(rand() * 1000) / 10, lang: i % 2 ? 'en' : 'de' },
    created: new Date(Date.UTC(2024, 0, 1 + (i % 28), i % 24)).toISOString(),
    text: `memory number ${i} about ${cities[i % cities.length].toLowerCase()}`,
  };
  if (i % 10 === 0) payload.note = null;
  if (i % 7 === 0) payload.nested = [{ a: i % 2, b: 'x' }, { a: 5, b: 'y' }];
  return {
    id,
    payload,
    vector: {
      dense: vec(8),
      euclid: vec(4),
      colbert: [vec(4), vec(4), vec(4)],
      text: { indices, values: indices.map(() => rand() + 0.1) },
    },
  };
}

const points = Array.from({ length: 120 }, (_, i) => makePoint(i));
let live = new Map(points.map((p) => [p.id, structuredClone(p)]));
let server;
let client;
let dir;

const connect = (url, extra = {}) => new QdrantClient({ url, checkCompatibility: false, ...extra });

before(async () => {
  dir = tempDir('telos-http-');
  server = await startTelosd(dir);
  client = connect(server.url);
});

after(async () => {
  if (server) await stopTelosd(server);
  removeDir(dir);
});

function near(actual, expected, what) {
  assert.equal(actual.length, expected.length, `${what}: ${actual.length} results`);
  for (let i = 0; i < expected.length; ++i) {
    assert.deepEqual(actual[i].id, expected[i].id, `${what}: result ${i}`);
    assert.ok(Math.abs(actual[i].score - expected[i].score) < 1e-4,
      `${what}: score ${actual[i].score} vs ${expected[i].score}`);
  }
}

const livePoints = () => [...live.values()];

test('collections: create with named dense, Euclid, sparse and multi vectors; refuse Manhattan',
  async () => {
    await client.createCollection(NAME, {
      vectors: {
        dense: { size: 8, distance: 'Cosine' },
        euclid: { size: 4, distance: 'Euclid' },
        colbert: { size: 4, distance: 'Cosine', multivector_config: { comparator: 'max_sim' } },
      },
      sparse_vectors: { text: {} },
    });
    await assert.rejects(
      client.createCollection('bad', { vectors: { size: 4, distance: 'Manhattan' } }),
      (e) => e.status === 400 && /vectors\.distance/.test(e.data.status.error));
    await assert.rejects(client.createCollection(NAME, { vectors: { size: 4, distance: 'Dot' } }),
      (e) => e.status === 409);
    assert.equal((await client.collectionExists(NAME)).exists, true);
    assert.equal((await client.collectionExists('bad')).exists, false);
    const names = (await client.getCollections()).collections.map((c) => c.name);
    assert.deepEqual(names, [NAME]);
    const info = await client.getCollection(NAME);
    assert.equal(info.points_count, 0);
    assert.equal(info.config.params.vectors.dense.size, 8);
  });

test('upsert: points and batch forms, payloads returned as stored', async () => {
  await client.upsert(NAME, { wait: true, points: points.slice(0, 60) });
  const rest = points.slice(60);
  await client.upsert(NAME, {
    wait: true,
    batch: {
      ids: rest.map((p) => p.id),
      vectors: {
        dense: rest.map((p) => p.vector.dense),
        euclid: rest.map((p) => p.vector.euclid),
        colbert: rest.map((p) => p.vector.colbert),
        text: rest.map((p) => p.vector.text),
      },
      payloads: rest.map((p) => p.payload),
    },
  });
  assert.equal((await client.count(NAME, { exact: true })).count, 120);
  const got = await client.retrieve(NAME, { ids: [3, uuidOf(100), 9999], with_payload: true });
  assert.deepEqual(got.map((r) => r.id), [3, uuidOf(100)]);
  assert.deepEqual(got[0].payload, points[3].payload);
  assert.deepEqual(got[1].payload, points[100].payload);
  const one = await call(server.url, 'GET', `/collections/${NAME}/points/5`);
  assert.equal(one.status, 200);
  assert.deepEqual(one.json.result.payload, points[5].payload);
  const v = one.json.result.vector.dense;
  const expected = normalize(points[5].vector.dense);
  v.forEach((x, i) => assert.ok(Math.abs(x - expected[i]) < 1e-6));
});

test('a batch with one invalid point is rejected whole and writes nothing', async () => {
  const good = makePoint(500);
  const bad = makePoint(501);
  bad.vector.dense = [1, 2, 3];
  await assert.rejects(client.upsert(NAME, { wait: true, points: [good, bad] }),
    (e) => e.status === 400 && /points\[1\]\.vector\.dense/.test(e.data.status.error));
  const badId = { ...makePoint(502), id: 'not-a-uuid' };
  await assert.rejects(client.upsert(NAME, { wait: true, points: [good, badId] }),
    (e) => e.status === 400 && /points\[1\]\.id/.test(e.data.status.error));
  assert.equal((await client.count(NAME)).count, 120);
  assert.deepEqual(await client.retrieve(NAME, { ids: [500] }), []);
});

test('search and query: dense, Euclid, sparse, multi, by id, against brute force', async () => {
  const q = points[200 - 190].vector.dense.map((x) => -x);
  const qn = normalize(q);
  const expectDense = ranked(livePoints(), (p) => dot(qn, normalize(p.vector.dense)));
  const search = await call(server.url, 'POST', `/collections/${NAME}/points/search`,
    { vector: { name: 'dense', vector: q }, limit: 10 });
  assert.equal(search.status, 200);
  near(search.json.result, expectDense, 'search dense');
  const viaQuery = await client.query(NAME, { query: q, using: 'dense', limit: 10 });
  near(viaQuery.points, expectDense, 'query dense');
  const offset = await client.query(NAME, { query: q, using: 'dense', limit: 5, offset: 3 });
  near(offset.points, expectDense.slice(3, 8), 'query dense offset');

  const e = [0.3, -0.2, 0.9, 0.1];
  const expectEuclid = ranked(livePoints(), (p) => euclid(e, p.vector.euclid), { ascending: true });
  near((await client.query(NAME, { query: e, using: 'euclid', limit: 10 })).points, expectEuclid,
    'query euclid');
  const threshold = expectEuclid[4].score + 1e-6;
  const within = await client.query(NAME,
    { query: e, using: 'euclid', limit: 10, score_threshold: threshold });
  near(within.points, expectEuclid.slice(0, 5), 'euclid score_threshold (max distance)');

  const s = { indices: [7, 8, 20, 33], values: [1.0, 0.5, 0.25, 2.0] };
  const expectSparse = ranked(livePoints(), (p) => sparseDot(s, p.vector.text))
    .filter((x) => x.score > 0);
  const sparse = await client.query(NAME, { query: s, using: 'text', limit: 10 });
  near(sparse.points, expectSparse.slice(0, 10), 'query sparse');

  const m = [[0.1, 0.2, 0.3, 0.4], [-0.5, 0.1, 0.0, 0.2]];
  const expectMulti = ranked(livePoints(), (p) => maxSim(m, p.vector.colbert));
  near((await client.query(NAME, { query: m, using: 'colbert', limit: 10 })).points, expectMulti,
    'query multi (max_sim)');

  const anchor = points[42];
  const an = normalize(anchor.vector.dense);
  const expectById = ranked(livePoints().filter((p) => p.id !== 42),
    (p) => dot(an, normalize(p.vector.dense)));
  near((await client.query(NAME, { query: 42, using: 'dense', limit: 10 })).points, expectById,
    'query by id');

  const batch = await call(server.url, 'POST', `/collections/${NAME}/points/search/batch`, {
    searches: [
      { vector: { name: 'dense', vector: q }, limit: 3 },
      { vector: { name: 'text', vector: s }, limit: 3 },
    ],
  });
  near(batch.json.result[0], expectDense.slice(0, 3), 'search batch dense');
  near(batch.json.result[1], expectSparse.slice(0, 3), 'search batch sparse');
  const qb = await client.queryBatch(NAME, {
    searches: [{ query: q, using: 'dense', limit: 4 }, { query: m, using: 'colbert', limit: 4 }],
  });
  near(qb[0].points, expectDense.slice(0, 4), 'query batch dense');
  near(qb[1].points, expectMulti.slice(0, 4), 'query batch multi');
});

test('prefetch with fusion rrf and dbsf, and re-scoring prefetched candidates', async () => {
  const q = points[1].vector.dense;
  const qn = normalize(q);
  const s = { indices: [7, 9, 11], values: [1.0, 1.0, 1.0] };
  const dense = ranked(livePoints(), (p) => dot(qn, normalize(p.vector.dense)), { limit: 20 });
  const sparse = ranked(livePoints(), (p) => sparseDot(s, p.vector.text), { limit: 20 })
    .filter((x) => x.score > 0);
  const prefetch = [{ query: q, using: 'dense', limit: 20 }, { query: s, using: 'text', limit: 20 }];

  const rrf = new Map();
  for (const list of [dense, sparse])
    list.forEach((x, rank) => rrf.set(x.id, (rrf.get(x.id) ?? 0) + 1 / (2 + rank)));
  const byScore = (m) => [...m].map(([id, score]) => ({ id, score }))
    .sort((a, b) => b.score - a.score);
  const fused = await client.query(NAME, { prefetch, query: { fusion: 'rrf' }, limit: 5 });
  // Scores must agree; ids too, where a score is not shared by several points.
  const expectR = byScore(rrf).slice(0, 5);
  fused.points.forEach((p, i) => {
    assert.ok(Math.abs(p.score - expectR[i].score) < 1e-6, `rrf score ${i}`);
    assert.ok(Math.abs(rrf.get(p.id) - p.score) < 1e-6, `rrf id ${i}`);
  });

  const dbsf = new Map();
  for (const list of [dense, sparse]) {
    const mean = list.reduce((a, x) => a + x.score, 0) / list.length;
    const sd = Math.sqrt(list.reduce((a, x) => a + (x.score - mean) ** 2, 0) / list.length);
    for (const x of list) {
      const v = Math.min(1, Math.max(0, (x.score - (mean - 3 * sd)) / (6 * sd)));
      dbsf.set(x.id, (dbsf.get(x.id) ?? 0) + v);
    }
  }
  const fusedD = await client.query(NAME, { prefetch, query: { fusion: 'dbsf' }, limit: 5 });
  const expectD = byScore(dbsf).slice(0, 5);
  fusedD.points.forEach((p, i) => {
    assert.ok(Math.abs(p.score - expectD[i].score) < 1e-4, `dbsf score ${i}`);
    assert.ok(Math.abs(dbsf.get(p.id) - p.score) < 1e-4, `dbsf id ${i}`);
  });

  const m = [[0.3, 0.1, -0.2, 0.5]];
  const candidates = new Set(dense.map((x) => x.id));
  const rescored = ranked(livePoints().filter((p) => candidates.has(p.id)),
    (p) => maxSim(m, p.vector.colbert), { limit: 5 });
  const two = await client.query(NAME, {
    prefetch: { query: q, using: 'dense', limit: 20 }, query: m, using: 'colbert', limit: 5,
  });
  near(two.points, rescored, 'multi re-scoring dense candidates');
});

const filters = [
  { must: [{ key: 'city', match: { value: 'Paris' } }] },
  { must: [{ key: 'tags', match: { any: ['red'] } }, { key: 'meta.lang', match: { value: 'en' } }] },
  { should: [{ key: 'city', match: { value: 'Oslo' } }, { key: 'n', range: { lt: 10 } }] },
  { must_not: [{ key: 'city', match: { any: ['Berlin', 'Lisbon'] } }] },
  { must: [{ key: 'city', match: { except: ['Berlin', 'Paris'] } }] },
  { must: [{ key: 'text', match: { text: 'about oslo' } }] },
  { must: [{ key: 'meta.score', range: { gte: 20.5, lt: 70 } }] },
  { must: [{ key: 'created', range: { gte: '2024-01-10T00:00:00Z', lt: '2024-01-20T00:00:00Z' } }] },
  { must: [{ has_id: [1, 2, 3, uuidOf(110), 1000] }] },
  { must: [{ is_empty: { key: 'note' } }] },
  { must: [{ is_null: { key: 'note' } }] },
  { must: [{ key: 'nested[].a', match: { value: 1 } }] },
  {
    min_should: {
      conditions: [
        { key: 'city', match: { value: 'Paris' } },
        { key: 'meta.lang', match: { value: 'en' } },
        { key: 'tags', match: { value: 'red' } },
      ],
      min_count: 2,
    },
  },
  {
    must: [{ should: [{ key: 'n', range: { gt: 100 } }, { key: 'n', range: { lte: 5 } }] }],
    must_not: [{ has_id: [0] }],
  },
];

test('filters: count, scroll and filtered search agree with the filters evaluated here', async () => {
  const q = points[7].vector.dense;
  const qn = normalize(q);
  for (const [i, filter] of filters.entries()) {
    const expected = livePoints().filter((p) => admits(filter, p.id, p.payload));
    assert.ok(expected.length > 0, `filter ${i} selects something`);
    const count = await client.count(NAME, { filter, exact: true });
    assert.equal(count.count, expected.length, `filter ${i} count`);
    const scroll = await client.scroll(NAME, { filter, limit: 1000, with_payload: false });
    assert.deepEqual(new Set(scroll.points.map((p) => p.id)), new Set(expected.map((p) => p.id)),
      `filter ${i} scroll`);
    const found = await client.query(NAME, { query: q, using: 'dense', filter, limit: 7 });
    near(found.points, ranked(expected, (p) => dot(qn, normalize(p.vector.dense)), { limit: 7 }),
      `filter ${i} search`);
  }
  const bad = await call(server.url, 'POST', `/collections/${NAME}/points/count`,
    { filter: { must: [{ key: 'city', match: { likes: 'Paris' } }] } });
  assert.equal(bad.status, 400);
  assert.match(bad.json.status.error, /filter\.must\[0\]\.match\.likes/);
});

test('scroll pages through every point in id order (integers first, then UUIDs)', async () => {
  const seen = [];
  let offset;
  for (;;) {
    const page = await client.scroll(NAME, { limit: 17, offset, with_payload: false });
    seen.push(...page.points.map((p) => p.id));
    if (page.next_page_offset == null) break;
    offset = page.next_page_offset;
  }
  const ints = livePoints().map((p) => p.id).filter((id) => typeof id === 'number')
    .sort((a, b) => a - b);
  const uuids = livePoints().map((p) => p.id).filter((id) => typeof id === 'string').sort();
  assert.deepEqual(seen, [...ints, ...uuids]);
});

test('payload: set, overwrite, delete keys', async () => {
  await client.setPayload(NAME, { wait: true, points: [1, 2], payload: { flag: true } });
  await client.overwritePayload(NAME, { wait: true, points: [3], payload: { only: 'this' } });
  await client.deletePayload(NAME, { wait: true, points: [4], keys: ['city', 'meta'] });
  const got = await client.retrieve(NAME, { ids: [1, 3, 4] });
  assert.deepEqual(got[0].payload, { ...points[1].payload, flag: true });
  assert.deepEqual(got[1].payload, { only: 'this' });
  const { city, meta, ...rest } = points[4].payload;
  assert.deepEqual(got[2].payload, rest);
  live.get(1).payload.flag = true;
  live.get(2).payload.flag = true;
  live.get(3).payload = { only: 'this' };
  live.get(4).payload = rest;
  assert.equal((await client.count(NAME, { filter: { must: [{ key: 'flag', match: { value: true } }] } })).count, 2);
});

test('delete by ids and by filter', async () => {
  await client.delete(NAME, { wait: true, points: [10, 11, uuidOf(111)] });
  for (const id of [10, 11, uuidOf(111)]) live.delete(id);
  const filter = { must: [{ key: 'city', match: { value: 'Lisbon' } }, { key: 'n', range: { gt: 80 } }] };
  const doomed = livePoints().filter((p) => admits(filter, p.id, p.payload)).map((p) => p.id);
  assert.ok(doomed.length > 0);
  await client.delete(NAME, { wait: true, filter });
  for (const id of doomed) live.delete(id);
  assert.equal((await client.count(NAME)).count, live.size);
  assert.deepEqual(await client.retrieve(NAME, { ids: [10, ...doomed] }), []);
});

test('a crash (SIGKILL) and restart keep every acknowledged point', async () => {
  const extra = Array.from({ length: 20 }, (_, i) => makePoint(300 + i));
  await client.upsert(NAME, { wait: true, points: extra });
  for (const p of extra) live.set(p.id, structuredClone(p));
  await stopTelosd(server, 'SIGKILL');
  server = await startTelosd(dir);
  client = connect(server.url);
  assert.equal((await client.count(NAME)).count, live.size);
  const ids = [...live.keys()];
  const got = await client.retrieve(NAME, { ids, with_payload: true });
  assert.equal(got.length, live.size);
  for (const r of got) assert.deepEqual(r.payload, live.get(r.id).payload);
  const q = points[9].vector.dense;
  const qn = normalize(q);
  near((await client.query(NAME, { query: q, using: 'dense', limit: 10 })).points,
    ranked(livePoints(), (p) => dot(qn, normalize(p.vector.dense))), 'search after restart');
});

test('bad requests get a 4xx naming the field and change nothing', async () => {
  const before = (await client.count(NAME)).count;
  const cases = [
    ['PUT', `/collections/${NAME}/points`, '{"points": [', 400, /Format error/],
    ['POST', '/collections/nope/points/scroll', {}, 404, /nope/],
    ['PUT', `/collections/${NAME}/points`, { points: [{ id: -4, vector: {} }] }, 400, /points\[0\]\.id/],
    ['PUT', `/collections/${NAME}/points`,
      { points: [{ ...makePoint(700), payload: 'text' }] }, 400, /points\[0\]\.payload/],
    ['POST', `/collections/${NAME}/points/query`, { query: [1, 2], using: 'dense' }, 400, /dimension/],
    ['POST', `/collections/${NAME}/points/query`, { query: [1, 2], using: 'nope' }, 400, /nope/],
  ];
  for (const [method, path, body, status, pattern] of cases) {
    const r = await call(server.url, method, path, body);
    assert.equal(r.status, status, `${method} ${path}: ${r.text}`);
    assert.match(r.json.status.error, pattern);
    assert.equal(typeof r.json.time, 'number');
  }
  assert.equal((await client.count(NAME)).count, before);
});

test('metrics in the Prometheus text format', async () => {
  // One write since telosd's restart, so the store's RocksDB write counters have moved: the same
  // point again, which changes no count below.
  await client.upsert(NAME, { wait: true, points: [livePoints()[0]] });
  const r = await fetch(`${server.url}/metrics`);
  const text = await r.text();
  assert.match(text, /telos_http_requests_total\{method="POST",route="\/collections\/\{name\}\/points\/count",status="200"\} \d+/);
  assert.match(text, /telos_http_request_duration_seconds_bucket\{method="POST",route="\/collections\/\{name\}\/points\/query",le="\+Inf"\} \d+/);
  assert.match(text, new RegExp(`telos_collection_memories\\{collection="${NAME}"\\} ${live.size}`));
  assert.match(text, /process_resident_memory_bytes \d+/);
  // Every vector of the collection is an index per shard; their vectors add up to the points.
  const perIndex = (metric, vector) => [...text.matchAll(new RegExp(
    `${metric}\\{collection="${NAME}",vector="${vector}",shard="\\d+"\\} (\\d+)`, 'g'))]
    .map((m) => Number(m[1]));
  for (const vector of ['dense', 'euclid', 'colbert', 'text']) {
    assert.equal(perIndex('telos_index_vectors', vector).reduce((a, b) => a + b, 0), live.size);
    assert.ok(perIndex('telos_index_fresh_vectors', vector).length > 0);
  }
  // RocksDB's write figures since the store was opened: the upsert above wrote user and WAL bytes.
  const written = (kind) => Number(text.match(new RegExp(
    `telos_rocksdb_written_bytes_total\\{collection="${NAME}",kind="${kind}"\\} (\\d+)`))[1]);
  assert.ok(written('user') > 0);
  assert.ok(written('wal') > 0);
  assert.ok(written('compaction') >= 0);
  assert.match(text, new RegExp(`telos_rocksdb_stall_seconds_total\\{collection="${NAME}"\\} [0-9.e+-]+`));
  assert.match(text, new RegExp(`telos_rocksdb_running_compactions\\{collection="${NAME}"\\} \\d+`));
  assert.match(text, new RegExp(`telos_rocksdb_pending_compaction_bytes\\{collection="${NAME}"\\} \\d+`));
  const root = await call(server.url, 'GET', '/');
  assert.equal(typeof root.json.version, 'string');
  assert.equal((await fetch(`${server.url}/healthz`)).status, 200);
});

test('delete a collection', async () => {
  assert.equal(await client.deleteCollection(NAME), true);
  assert.equal((await client.collectionExists(NAME)).exists, false);
  await assert.rejects(client.count(NAME), (e) => e.status === 404);
});

test('an API key is required when telosd has one', async () => {
  const keyDir = tempDir('telos-http-key-');
  const keyed = await startTelosd(keyDir, ['--api-key', 'sesame']);
  try {
    const without = await call(keyed.url, 'GET', '/collections');
    assert.equal(without.status, 401);
    const wrong = await call(keyed.url, 'GET', '/collections', undefined, { 'api-key': 'nope' });
    assert.equal(wrong.status, 401);
    assert.equal((await fetch(`${keyed.url}/readyz`)).status, 200);
    const ok = connect(keyed.url, { apiKey: 'sesame' });
    await ok.createCollection('k', { vectors: { size: 2, distance: 'Dot' } });
    assert.equal((await ok.getCollections()).collections.length, 1);
  } finally {
    await stopTelosd(keyed);
    removeDir(keyDir);
  }
});
