// Scroll ordered by a payload value (`order_by`: key, direction, start_from) against the order
// computed here, and payload updates at nested keys (`key` when setting, dotted and array paths
// when deleting keys).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { QdrantClient } from '@qdrant/js-client-rest';
import { startTelosd, stopTelosd, tempDir, removeDir, call } from './telosd.mjs';
import { admits } from './reference.mjs';

const NAME = 'ordered';
const live = new Map();
for (let i = 0; i < 60; ++i) {
  const payload = {
    n: (i * 37) % 25, // ties: every value twice or more
    f: i % 4 === 0 ? i * 0.5 + 0.25 : i,
    when: new Date(Date.UTC(2024, 0, 1 + (i % 30), i % 24)).toISOString(),
    nums: i % 5 === 0 ? [i % 7, 100 - i] : i % 7,
    group: i % 3,
    nested: { x: { y: i, keep: true } },
    arr: [{ a: 1, b: 2 }, { a: 3, b: 4 }],
  };
  if (i % 9 === 0) delete payload.n;
  if (i % 11 === 0) payload.n = 'not a number';
  live.set(i, { id: i, vector: [Math.cos(i), Math.sin(i)], payload });
}

let server;
let client;
let dir;

before(async () => {
  dir = tempDir('telos-http-order-');
  server = await startTelosd(dir);
  client = new QdrantClient({ url: server.url, checkCompatibility: false });
  await client.createCollection(NAME, { vectors: { size: 2, distance: 'Dot' } });
  await client.upsert(NAME, { wait: true, points: [...live.values()] });
});

after(async () => {
  if (server) await stopTelosd(server);
  removeDir(dir);
});

const values = (payload, key) => {
  let v = payload;
  for (const part of key.split('.')) v = v?.[part];
  return (Array.isArray(v) ? v : [v]);
};

/** The expected order: each point once, at its first value in the order past start_from. */
function expectedOrder({ key, direction = 'asc', start_from }, { filter, limit = 10, dates = false } = {}) {
  const desc = direction === 'desc';
  const start = typeof start_from === 'string' ? Date.parse(start_from) * 1000 : start_from;
  const rows = [];
  for (const p of live.values()) {
    if (!admits(filter, p.id, p.payload)) continue;
    let xs = values(p.payload, key);
    xs = dates ? xs.filter((v) => typeof v === 'string').map((v) => Date.parse(v) * 1000)
      : xs.filter((v) => typeof v === 'number');
    if (start !== undefined) xs = xs.filter((x) => (desc ? x <= start : x >= start));
    if (!xs.length) continue;
    rows.push({ id: p.id, value: desc ? Math.max(...xs) : Math.min(...xs) });
  }
  rows.sort((a, b) => (a.value !== b.value ? (desc ? b.value - a.value : a.value - b.value) : a.id - b.id));
  return rows.slice(0, limit);
}

async function checkOrder(order_by, options = {}) {
  const got = await client.scroll(NAME, { order_by, filter: options.filter, limit: options.limit ?? 10 });
  const want = expectedOrder(typeof order_by === 'string' ? { key: order_by } : order_by, options);
  assert.deepEqual(got.points.map((p) => p.id), want.map((r) => r.id), JSON.stringify(order_by));
  got.points.forEach((p, i) => assert.ok(Math.abs(p.order_value - want[i].value) < 1e-9,
    `${JSON.stringify(order_by)}: order_value ${p.order_value} vs ${want[i].value}`));
  assert.equal(got.next_page_offset, null);
}

test('scroll order_by: key, direction, start_from, with a filter, datetimes, several values',
  async () => {
    await checkOrder('n');
    await checkOrder({ key: 'n', direction: 'desc' }, { limit: 15 });
    await checkOrder({ key: 'n', direction: 'desc', start_from: 12 }, { limit: 15 });
    await checkOrder({ key: 'n', start_from: 7 }, { limit: 100 });
    await checkOrder({ key: 'f', direction: 'desc', start_from: 20.5 });
    await checkOrder({ key: 'n' }, { filter: { must: [{ key: 'group', match: { value: 1 } }] } });
    await checkOrder({ key: 'nums', start_from: 3 }, { limit: 20 });
    await checkOrder({ key: 'nums', direction: 'desc' }, { limit: 20 });
    await checkOrder({ key: 'nested.x.y', direction: 'desc', start_from: 40 });
    await checkOrder({ key: 'when', start_from: '2024-01-10T00:00:00Z' }, { dates: true });
    await checkOrder({ key: 'when', direction: 'desc', start_from: '2024-01-20T05:00:00+01:00' },
      { dates: true, limit: 12 });
    // Paging with start_from: the next page starts at the last value seen.
    const first = await client.scroll(NAME, { order_by: { key: 'n' }, limit: 5 });
    const last = first.points.at(-1).order_value;
    const next = await client.scroll(NAME, { order_by: { key: 'n', start_from: last }, limit: 50 });
    assert.equal(next.points[0].order_value, last);

    const bad = [
      [{ order_by: 'n', offset: 3 }, /offset/],
      [{ order_by: { key: 'n', direction: 'up' } }, /order_by\.direction/],
      [{ order_by: { key: 'n', start_from: true } }, /order_by\.start_from/],
      [{ order_by: { key: 'n', start_from: 'yesterday' } }, /order_by\.start_from/],
      [{ order_by: { key: 'n', colour: 1 } }, /order_by\.colour/],
      [{ order_by: { direction: 'asc' } }, /order_by\.key/],
      [{ order_by: 7 }, /order_by/],
    ];
    for (const [body, pattern] of bad) {
      const r = await call(server.url, 'POST', `/collections/${NAME}/points/scroll`, body);
      assert.equal(r.status, 400, r.text);
      assert.match(r.json.status.error, pattern);
    }
  });

test('payload at a nested key: set merges into the object there, overwrite replaces it',
  async () => {
    await client.setPayload(NAME, { wait: true, points: [1, 2], key: 'nested.x', payload: { y: -1, z: 'new' } });
    await client.setPayload(NAME, { wait: true, points: [3], key: 'fresh.deep', payload: { a: 1 } });
    await client.setPayload(NAME, { wait: true, points: [4], key: 'group', payload: { was: 'number' } });
    const put = await call(server.url, 'PUT', `/collections/${NAME}/points/payload?wait=true`,
      { points: [5], key: 'nested.x', payload: { only: 1 } });
    assert.equal(put.status, 200, put.text);
    for (const id of [1, 2]) Object.assign(live.get(id).payload.nested.x, { y: -1, z: 'new' });
    live.get(3).payload.fresh = { deep: { a: 1 } };
    live.get(4).payload.group = { was: 'number' };
    live.get(5).payload.nested.x = { only: 1 };
    const got = await client.retrieve(NAME, { ids: [1, 2, 3, 4, 5] });
    for (const r of got) assert.deepEqual(r.payload, live.get(r.id).payload, `point ${r.id}`);
    await checkOrder({ key: 'nested.x.y' }, { limit: 5 });

    const bad = [
      ['POST', '/points/payload', { points: [1], key: 'arr[0].a', payload: { a: 1 } }, /key/],
      ['POST', '/points/payload', { points: [1], key: 'a..b', payload: { a: 1 } }, /key/],
      ['POST', '/points/payload', { points: [1], key: 7, payload: { a: 1 } }, /key/],
      ['POST', '/points/payload/delete', { points: [1], key: 'a', keys: ['b'] }, /key/],
      ['POST', '/points/payload/delete', { points: [1], keys: ['a..b'] }, /keys/],
    ];
    for (const [method, path, body, pattern] of bad) {
      const r = await call(server.url, method, `/collections/${NAME}${path}`, body);
      assert.equal(r.status, 400, r.text);
      assert.match(r.json.status.error, pattern);
    }
    const unchanged = await client.retrieve(NAME, { ids: [1] });
    assert.deepEqual(unchanged[0].payload, live.get(1).payload);
  });

test('delete payload keys: top-level, dotted and through arrays', async () => {
  await client.deletePayload(NAME, {
    wait: true, points: [6, 7], keys: ['nested.x.keep', 'arr[].b', 'f', 'absent.key'],
  });
  for (const id of [6, 7]) {
    const p = live.get(id).payload;
    delete p.nested.x.keep;
    p.arr.forEach((e) => delete e.b);
    delete p.f;
  }
  const got = await client.retrieve(NAME, { ids: [6, 7, 8] });
  for (const r of got) assert.deepEqual(r.payload, live.get(r.id).payload, `point ${r.id}`);
  const filter = { must: [{ key: 'arr[].b', match: { value: 2 } }] };
  const count = await client.count(NAME, { filter });
  assert.equal(count.count, [...live.values()].filter((p) => admits(filter, p.id, p.payload)).length);
});
