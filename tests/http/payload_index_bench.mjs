// Filtered count, scroll and search over HTTP with and without a payload index, same run, same
// data (two collections): the ratio is what the secondary-index rows save. Not a CTest entry;
// docs/BENCHMARKS.md has the command and the figures.
//   TELOSD=build/bin/telosd node tests/http/payload_index_bench.mjs [points] [rounds]
import { QdrantClient } from '@qdrant/js-client-rest';
import { startTelosd, stopTelosd, tempDir, removeDir } from './telosd.mjs';
import { lcg } from './reference.mjs';

const points = Number(process.argv[2] ?? 20000);
const rounds = Number(process.argv[3] ?? 20);
const rand = lcg(7);
const dir = tempDir('telos-http-index-bench-');
const server = await startTelosd(dir);
const client = new QdrantClient({ url: server.url, checkCompatibility: false });
try {
  for (const name of ['scan', 'indexed'])
    await client.createCollection(name, { vectors: { size: 8, distance: 'Cosine' } });
  const batch = 1000;
  for (let start = 0; start < points; start += batch) {
    const list = [];
    for (let i = start; i < Math.min(points, start + batch); ++i)
      list.push({
        id: i,
        vector: Array.from({ length: 8 }, () => rand() * 2 - 1),
        // 1 point in 100 has each city value.
        payload: { city: `city${i % 100}`, n: i },
      });
    for (const name of ['scan', 'indexed']) await client.upsert(name, { wait: true, points: list });
  }
  let t = performance.now();
  await client.createPayloadIndex('indexed', { wait: true, field_name: 'city', field_schema: 'keyword' });
  const indexMs = performance.now() - t;
  const filter = { must: [{ key: 'city', match: { value: 'city42' } }] };
  const query = Array.from({ length: 8 }, () => rand() * 2 - 1);
  const ops = {
    count: (name) => client.count(name, { filter, exact: true }),
    scroll: (name) => client.scroll(name, { filter, limit: 100 }),
    search: (name) => client.query(name, { query, filter, limit: 10 }),
  };
  const result = { points, rounds, create_index_ms: Math.round(indexMs) };
  for (const [op, run] of Object.entries(ops)) {
    const ms = {};
    for (const name of ['scan', 'indexed']) {
      await run(name); // warm
      t = performance.now();
      for (let r = 0; r < rounds; ++r) await run(name);
      ms[name] = (performance.now() - t) / rounds;
    }
    const a = await run('scan');
    const b = await run('indexed');
    if (JSON.stringify(a) !== JSON.stringify(b)) throw new Error(`${op}: results differ`);
    result[op] = { scan_ms: +ms.scan.toFixed(2), indexed_ms: +ms.indexed.toFixed(2),
      speedup: +(ms.scan / ms.indexed).toFixed(1) };
  }
  console.log(JSON.stringify(result));
} finally {
  await stopTelosd(server);
  removeDir(dir);
}
