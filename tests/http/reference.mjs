// What the answers must be, computed in the test: deterministic data, brute-force scores per
// distance (as Qdrant defines them) and the filter semantics evaluated on the payloads.

/** A small linear congruential generator: the same data on every run. */
export function lcg(seed) {
  let s = BigInt(seed);
  return () => {
    s = (s * 6364136223846793005n + 1442695040888963407n) & 0xffffffffffffffffn;
    return Number(s >> 11n) / 2 ** 53;
  };
}

export function normalize(v) {
  const n = Math.sqrt(v.reduce((a, x) => a + x * x, 0));
  return v.map((x) => x / n);
}

const f32 = (x) => Math.fround(x);
export const dot = (a, b) => a.reduce((s, x, i) => s + x * b[i], 0);
export const euclid = (a, b) => Math.sqrt(a.reduce((s, x, i) => s + (x - b[i]) ** 2, 0));

export function sparseDot(q, d) {
  const m = new Map(d.indices.map((i, k) => [i, d.values[k]]));
  return q.indices.reduce((s, i, k) => s + (m.has(i) ? q.values[k] * m.get(i) : 0), 0);
}

export function maxSim(q, d) {
  const qn = q.map(normalize);
  const dn = d.map(normalize);
  return qn.reduce((s, t) => s + Math.max(...dn.map((u) => dot(t, u))), 0);
}

/** The f32 rounding the server stores vectors with (cosine vectors normalised first). */
export const stored = (v) => v.map(f32);

function valuesAt(payload, key) {
  const parts = key.split('.').map((p) => p.replace(/\[\]$/, ''));
  let current = [payload];
  for (const part of parts) {
    const next = [];
    const visit = (v) => {
      if (Array.isArray(v)) v.forEach(visit);
      else if (v && typeof v === 'object' && part in v) next.push(v[part]);
    };
    current.forEach(visit);
    current = next;
  }
  return current.flatMap((v) => (Array.isArray(v) ? v : [v]));
}

const toMicros = (s) => Date.parse(s) * 1000;

function inRange(r, x) {
  return (
    (r.gt == null || x > r.gt) &&
    (r.gte == null || x >= r.gte) &&
    (r.lt == null || x < r.lt) &&
    (r.lte == null || x <= r.lte)
  );
}

function condition(c, id, payload) {
  if (c.must || c.should || c.must_not || c.min_should) return admits(c, id, payload);
  if (c.has_id) return c.has_id.includes(id);
  if (c.is_empty) return valuesAt(payload, c.is_empty.key).every((v) => v === null);
  if (c.is_null) return valuesAt(payload, c.is_null.key).some((v) => v === null);
  const values = valuesAt(payload, c.key);
  if (c.match?.value !== undefined) return values.some((v) => v === c.match.value);
  if (c.match?.any) return values.some((v) => c.match.any.includes(v));
  if (c.match?.except) {
    const present = values.filter((v) => v !== null);
    return present.length === 0 || present.some((v) => !c.match.except.includes(v));
  }
  if (c.match?.text) return values.some((v) => typeof v === 'string' && v.includes(c.match.text));
  if (c.range) {
    const dates = Object.values(c.range).some((b) => typeof b === 'string');
    if (dates) {
      const r = Object.fromEntries(Object.entries(c.range).map(([k, b]) => [k, toMicros(b)]));
      return values.some((v) => typeof v === 'string' && inRange(r, toMicros(v)));
    }
    return values.some((v) => typeof v === 'number' && inRange(c.range, v));
  }
  throw new Error(`reference: unknown condition ${JSON.stringify(c)}`);
}

const list = (x) => (x == null ? [] : Array.isArray(x) ? x : [x]);

/** The Qdrant filter `f` evaluated on one point. */
export function admits(f, id, payload) {
  if (!f) return true;
  if (!list(f.must).every((c) => condition(c, id, payload))) return false;
  if (list(f.must_not).some((c) => condition(c, id, payload))) return false;
  if (list(f.should).length && !list(f.should).some((c) => condition(c, id, payload))) return false;
  if (f.min_should) {
    const n = f.min_should.conditions.filter((c) => condition(c, id, payload)).length;
    if (n < f.min_should.min_count) return false;
  }
  return true;
}

/** Points sorted best first by `score` (higher first unless `ascending`), ties by id order. */
export function ranked(points, score, { ascending = false, limit = 10 } = {}) {
  const scored = points.map((p) => ({ id: p.id, score: score(p) }));
  scored.sort((a, b) => (ascending ? a.score - b.score : b.score - a.score));
  return scored.slice(0, limit);
}
