// Payload indexes (PUT / DELETE /collections/{name}/index): filters on indexed fields are answered
// from the store's secondary-index rows and confirmed on the records, so count, scroll and
// filtered search must give exactly what the same filters give without the index (and what the
// filters evaluated here give), after payload changes, upserts, deletes and a restart, and after
// an index is dropped.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { QdrantClient } from '@qdrant/js-client-rest';
import { startTelosd, stopTelosd, tempDir, removeDir, call } from './telosd.mjs';
import { lcg, dot, admits, ranked } from './reference.mjs';

const NAME = 'indexed';
const rand = lcg(61);
const cities = ['Berlin', 'Paris', 'Lisbon', 'Oslo', 'Rome'];
const longText = 'L'.repeat(5000);

function makePoint(i) {
  const payload = {
    city: cities[i % cities.length],
    n: i % 10,
    flag: i % 3 === 0,
    tags: i % 4 === 0 ? ['a', 'b'] : ['c'],
    meta: { lang: i % 2 ? 'en' : 'de' },
    code: i % 50 === 0 ? longText : 'short',
  };
  // Values of other shapes on the indexed field: absent, null, several, a number, a numeric string.
  if (i % 11 === 0) delete payload.city;
  else if (i % 13 === 0) payload.city = null;
  else if (i % 17 === 0) payload.city = ['Paris', 'Oslo'];
  else if (i % 19 === 0) payload.city = 7;
  else if (i % 23 === 0) payload.city = '7';
  return { id: i, vector: Array.from({ length: 4 }, () => rand() * 2 - 1), payload };
}

const live = new Map();
for (let i = 0; i < 200; ++i) {
  const p = makePoint(i);
  live.set(p.id, p);
}

const filters = [
  { must: [{ key: 'city', match: { value: 'Paris' } }] },
  { must: [{ key: 'city', match: { any: ['Paris', 'Oslo'] } }] },
  { must: [{ key: 'city', match: { value: 7 } }] },
  { must: [{ key: 'city', match: { value: '7' } }] },
  { must: [{ key: 'n', match: { value: 3 } }] },
  { must: [{ key: 'n', match: { any: [1, 2] } }] },
  { must: [{ key: 'flag', match: { value: true } }] },
  { must: [{ key: 'tags', match: { value: 'a' } }] },
  { must: [{ key: 'tags[]', match: { any: ['c'] } }] },
  { must: [{ key: 'meta.lang', match: { value: 'en' } }, { key: 'city', match: { value: 'Berlin' } }] },
  { must: [{ must: [{ key: 'city', match: { value: 'Lisbon' } }] }] },
  { should: [{ key: 'city', match: { value: 'Paris' } }, { key: 'n', match: { value: 3 } }] },
  { must: [{ key: 'city', match: { value: 'Paris' } }], must_not: [{ key: 'n', match: { any: [1, 2] } }] },
  { must: [{ key: 'city', match: { any: [] } }] },
  { must: [{ key: 'code', match: { value: longText } }] },
  { must: [{ key: 'city', match: { value: 'Nowhere' } }] },
  { must: [{ key: 'city', match: { except: ['Paris'] } }] },
];

let server;
let client;
let dir;
const connect = (url) => new QdrantClient({ url, checkCompatibility: false });

before(async () => {
  dir = tempDir('telos-http-index-');
  server = await startTelosd(dir);
  client = connect(server.url);
  await client.createCollection(NAME, { vectors: { size: 4, distance: 'Dot' } });
  await client.upsert(NAME, { wait: true, points: [...live.values()] });
});

after(async () => {
  if (server) await stopTelosd(server);
  removeDir(dir);
});

/** Every filter through count, scroll and filtered search against the filter evaluated here. */
async function agree(what) {
  const q = [0.4, -0.3, 0.8, 0.1];
  let nonEmpty = 0;
  for (const [i, filter] of filters.entries()) {
    const expected = [...live.values()].filter((p) => admits(filter, p.id, p.payload));
    nonEmpty += expected.length > 0;
    const count = await client.count(NAME, { filter, exact: true });
    assert.equal(count.count, expected.length, `${what}: filter ${i} count`);
    const ids = expected.map((p) => p.id).sort((a, b) => a - b);
    const scroll = await client.scroll(NAME, { filter, limit: 1000, with_payload: false });
    assert.deepEqual(scroll.points.map((p) => p.id), ids, `${what}: filter ${i} scroll`);
    if (ids.length > 1) {
      const page = await client.scroll(NAME, { filter, limit: 3, offset: ids[1] });
      assert.deepEqual(page.points.map((p) => p.id), ids.slice(1, 4), `${what}: filter ${i} page`);
      assert.equal(page.next_page_offset, ids[4] ?? null, `${what}: filter ${i} next page`);
    }
    const found = await client.query(NAME, { query: q, filter, limit: 5 });
    const best = ranked(expected, (p) => dot(q, p.vector), { limit: 5 });
    assert.deepEqual(found.points.map((p) => p.id), best.map((p) => p.id),
      `${what}: filter ${i} search`);
  }
  assert.ok(nonEmpty >= 12, `${what}: most filters select something`);
}

test('filters agree with the reference before any index', async () => {
  await agree('no index');
});

test('payload indexes: created, reported, used by filters with identical results', async () => {
  const fields = { city: 'keyword', n: 'integer', flag: 'bool', 'tags[]': 'keyword',
    'meta.lang': { type: 'keyword', is_tenant: false }, code: 'keyword', score: 'float' };
  for (const [field_name, field_schema] of Object.entries(fields)) {
    const r = await client.createPayloadIndex(NAME, { wait: true, field_name, field_schema });
    assert.equal(r.status, 'completed');
  }
  const info = await client.getCollection(NAME);
  assert.deepEqual(info.payload_schema.city, { data_type: 'keyword' });
  assert.deepEqual(info.payload_schema['meta.lang'],
    { data_type: 'keyword', params: { is_tenant: false } });
  assert.deepEqual(info.payload_schema.score, { data_type: 'float' });
  assert.equal(info.points_count, 200);
  await agree('indexed');
});

test('indexed results follow payload changes, upserts and deletes', async () => {
  await client.setPayload(NAME, { wait: true, points: [1, 2, 3], payload: { city: 'Paris' } });
  await client.overwritePayload(NAME, { wait: true, points: [4], payload: { n: 3 } });
  await client.deletePayload(NAME, { wait: true, points: [6, 7], keys: ['city'] });
  await client.clearPayload(NAME, { wait: true, points: [9] });
  for (const id of [1, 2, 3]) live.get(id).payload.city = 'Paris';
  live.get(4).payload = { n: 3 };
  for (const id of [6, 7]) delete live.get(id).payload.city;
  live.get(9).payload = {};
  const moved = { ...makePoint(5), payload: { city: ['Lisbon', 'Berlin'], n: 1, tags: 'a' } };
  await client.upsert(NAME, { wait: true, points: [moved] });
  live.set(5, moved);
  await client.delete(NAME, { wait: true, points: [10, 15] });
  live.delete(10);
  live.delete(15);
  await client.setPayload(NAME, {
    wait: true, filter: { must: [{ key: 'city', match: { value: 'Rome' } }] }, payload: { city: 'Oslo' },
  });
  for (const p of live.values()) if (p.payload.city === 'Rome') p.payload.city = 'Oslo';
  await client.delete(NAME, { wait: true, filter: { must: [{ key: 'n', match: { value: 8 } }] } });
  for (const [id, p] of [...live]) if (p.payload.n === 8) live.delete(id);
  await agree('after changes');
});

test('payload indexes survive a restart', async () => {
  await stopTelosd(server);
  server = await startTelosd(dir);
  client = connect(server.url);
  const info = await client.getCollection(NAME);
  assert.deepEqual(Object.keys(info.payload_schema).sort(),
    ['city', 'code', 'flag', 'meta.lang', 'n', 'score', 'tags[]']);
  await agree('after restart');
  // The store's verify checks every point's index rows against its attributes.
  const v = await call(server.url, 'POST', `/telos/collections/${NAME}/verify`, {});
  assert.equal(v.json.result.consistent, true, v.text);
  const st = await call(server.url, 'GET', `/telos/collections/${NAME}/stats`);
  assert.deepEqual(st.json.result.payload_index_slots, { used: 6, total: 16 });
});

test('dropping an index keeps the results; bad index requests are refused naming the field',
  async () => {
    await client.deletePayloadIndex(NAME, 'city', { wait: true });
    await client.deletePayloadIndex(NAME, 'tags[]', { wait: true });
    const info = await client.getCollection(NAME);
    assert.equal(info.payload_schema.city, undefined);
    assert.equal(info.payload_schema['tags[]'], undefined);
    await agree('dropped');
    // Re-created: the slot is filled again from the records.
    await client.createPayloadIndex(NAME, { wait: true, field_name: 'city', field_schema: 'keyword' });
    await agree('re-created');

    const path = `/collections/${NAME}/index`;
    const cases = [
      [{ field_name: 'x', field_schema: 'nope' }, /field_schema/],
      [{ field_schema: 'keyword' }, /field_name/],
      [{ field_name: 'a..b', field_schema: 'keyword' }, /field_name/],
      [{ field_name: 'x', field_schema: 'keyword', colour: 1 }, /colour/],
    ];
    for (const [body, pattern] of cases) {
      const r = await call(server.url, 'PUT', path, body);
      assert.equal(r.status, 400, r.text);
      assert.match(r.json.status.error, pattern);
    }
    // 16 fields at most use index slots (city, n, flag, meta.lang, code hold 5 of them).
    for (let i = 0; i < 11; ++i)
      await client.createPayloadIndex(NAME, { wait: true, field_name: `f${i}`, field_schema: 'keyword' });
    const full = await call(server.url, 'PUT', path, { field_name: 'f11', field_schema: 'integer' });
    assert.equal(full.status, 400);
    assert.match(full.json.status.error, /field_name/);
    assert.equal((await client.getCollection(NAME)).payload_schema.f11, undefined);
    await agree('full');
    const v = await call(server.url, 'POST', `/telos/collections/${NAME}/verify`, {});
    assert.equal(v.json.result.consistent, true, v.text);
  });
