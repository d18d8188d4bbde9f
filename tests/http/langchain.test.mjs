// @langchain/qdrant's QdrantVectorStore against a real telosd --http, with a deterministic
// embeddings class written here: addDocuments, similaritySearch(WithScore), a metadata filter and
// delete, each against the answer computed in the test.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Embeddings } from '@langchain/core/embeddings';
import { Document } from '@langchain/core/documents';
import { QdrantVectorStore } from '@langchain/qdrant';
import { QdrantClient } from '@qdrant/js-client-rest';
import { startTelosd, stopTelosd, tempDir, removeDir } from './telosd.mjs';
import { dot, normalize } from './reference.mjs';

/** Bag of hashed words in 16 dimensions: the same text always gets the same vector. */
class WordEmbeddings extends Embeddings {
  constructor() {
    super({});
  }

  vector(text) {
    const v = new Array(16).fill(0);
    for (const word of text.toLowerCase().split(/\W+/).filter(Boolean)) {
      let h = 7;
      for (const c of word) h = (h * 31 + c.charCodeAt(0)) >>> 0;
      v[h % 15] += 1 + (h % 7) / 10;
    }
    v[15] = 0.05;
    return v;
  }

  async embedDocuments(texts) {
    return texts.map((t) => this.vector(t));
  }

  async embedQuery(text) {
    return this.vector(text);
  }
}

const texts = [
  ['the cat sat on the warm mat', 'a'],
  ['dogs chase cats around the garden', 'a'],
  ['a storage engine keeps memories with many embeddings', 'b'],
  ['vector search finds the nearest memories', 'b'],
  ['rocksdb writes a log before the table', 'c'],
  ['lmdb maps the whole database into memory', 'c'],
  ['actors exchange messages and never share state', 'b'],
  ['the garden has apple trees and a pond', 'a'],
];

let server;
let dir;
let store;
const embeddings = new WordEmbeddings();
let ids;

before(async () => {
  dir = tempDir('telos-langchain-');
  server = await startTelosd(dir);
  const client = new QdrantClient({ url: server.url, checkCompatibility: false });
  store = new QdrantVectorStore(embeddings, { client, collectionName: 'langchain' });
});

after(async () => {
  if (server) await stopTelosd(server);
  removeDir(dir);
});

function expected(query, k, keep = () => true) {
  const q = normalize(embeddings.vector(query));
  return texts
    .filter(([, source]) => keep(source))
    .map(([text, source]) => ({ text, source, score: dot(q, normalize(embeddings.vector(text))) }))
    .sort((a, b) => b.score - a.score)
    .slice(0, k);
}

test('addDocuments creates the collection and stores every document', async () => {
  ids = texts.map((_, i) => `00000000-0000-4000-8000-${String(i + 1).padStart(12, '0')}`);
  await store.addDocuments(
    texts.map(([text, source], i) => new Document({ pageContent: text, metadata: { source, i } })),
    { ids });
  const count = await store.client.count('langchain', { exact: true });
  assert.equal(count.count, texts.length);
});

test('similaritySearchWithScore ranks as cosine similarity does', async () => {
  const query = 'nearest memories in a vector storage engine';
  const got = await store.similaritySearchWithScore(query, 3);
  const want = expected(query, 3);
  assert.deepEqual(got.map(([d]) => d.pageContent), want.map((w) => w.text));
  got.forEach(([d, score], i) => {
    assert.ok(Math.abs(score - want[i].score) < 1e-5);
    assert.equal(d.metadata.source, want[i].source);
  });
  const plain = await store.similaritySearch('the garden cat', 2);
  assert.deepEqual(plain.map((d) => d.pageContent), expected('the garden cat', 2).map((w) => w.text));
});

test('a metadata filter restricts the results', async () => {
  const filter = { must: [{ key: 'metadata.source', match: { value: 'c' } }] };
  const got = await store.similaritySearchWithScore('memories and the database', 5, filter);
  const want = expected('memories and the database', 5, (s) => s === 'c');
  assert.deepEqual(got.map(([d]) => d.pageContent), want.map((w) => w.text));
});

test('delete removes documents by id and by filter', async () => {
  await store.delete({ ids: [ids[0], ids[1]] });
  await store.delete({ filter: { must: [{ key: 'metadata.source', match: { value: 'c' } }] } });
  const left = (await store.client.count('langchain', { exact: true })).count;
  assert.equal(left, texts.length - 2 - 2);
  const got = await store.similaritySearch('the cat sat on the mat', 8);
  assert.ok(got.every((d) => d.metadata.source !== 'c' && d.metadata.i > 1));
  assert.equal(got.length, left);
});
