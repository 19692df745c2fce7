// Unit checks of the region probe's bound, run by controlplane/web's
// TestRegionProbe (bundled by esbuild, run by node): a fake network and a
// fake clock, so nothing depends on the machine's speed.
import assert from 'node:assert/strict';
import { atMost, joinWaitMs, probeBudgetMs as budgetMs, probeRegions, type ProbeDeps } from '../src/regions';

type Answer = { status: number; body?: unknown } | 'never';

/**
 * world is a fake network on a fake clock: each URL answers `ms` of fake
 * time after it is asked, or never; run() lets the events happen in time
 * order until none is left.
 */
function world(routes: Record<string, { ms: number; answer: Answer }>) {
  let clock = 0;
  const events: { at: number; fire: () => void }[] = [];
  const schedule = (ms: number, fire: () => void) => events.push({ at: clock + ms, fire });
  const aborted: string[] = [];
  const fetched: string[] = [];
  let asked = -1;
  const store = new Map<string, string>();
  const deps: ProbeDeps = {
    now: () => clock,
    after: (ms) => {
      asked = ms;
      return new Promise((r) => schedule(ms, r));
    },
    storage: { getItem: (k) => store.get(k) ?? null, setItem: (k, v) => void store.set(k, v) },
    fetch: ((input: RequestInfo | URL, init?: RequestInit) => {
      const url = String(input).replace(/[?&]n=\d+$/, '');
      fetched.push(url);
      const route = routes[url];
      return new Promise((resolve, reject) => {
        init?.signal?.addEventListener('abort', () => {
          aborted.push(url);
          reject(new Error('aborted'));
        });
        if (!route || route.answer === 'never') return;
        const a = route.answer;
        schedule(route.ms, () => resolve({ ok: a.status === 200, status: a.status, json: async () => a.body } as Response));
      });
    }) as typeof fetch,
  };
  const run = async () => {
    for (;;) {
      for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
      if (events.length === 0) return;
      events.sort((x, y) => x.at - y.at);
      const e = events.shift()!;
      clock = e.at;
      e.fire();
    }
  };
  return { deps, aborted, fetched, store, asked: () => asked, run, now: () => clock };
}

const regions = (list: [string, string[]][]) => ({ status: 200, body: { regions: list.map(([name, probeUrls]) => ({ name, probeUrls })) } });

// Two near regions answer; a far one never does within the bound: the
// answer has the near ones (fastest URL of each), the far probe is
// aborted, the bound asked of the timer is at most budgetMs, and the RTTs
// are kept for the session.
{
  const w = world({
    '/v1/regions': { ms: 5, answer: regions([['a', ['http://a1/probe', 'http://a2/probe']], ['b', ['http://b1/probe']], ['far', ['http://f1/probe']]]) },
    'http://a1/probe': { ms: 12, answer: { status: 0 } },
    'http://a2/probe': { ms: 30, answer: { status: 0 } },
    'http://b1/probe': { ms: 80, answer: { status: 0 } },
    'http://f1/probe': { ms: 0, answer: 'never' },
  });
  const p = probeRegions('', w.deps);
  await w.run();
  const rtts = await p;
  assert.equal(w.asked(), budgetMs);
  assert.ok(w.now() <= budgetMs, `answered at ${w.now()} ms, after the ${budgetMs} ms bound`);
  assert.deepEqual(rtts, { a: 12, b: 80 });
  assert.ok(w.aborted.includes('http://f1/probe'), `far probe not aborted: ${w.aborted}`);
  const before = w.fetched.length;
  assert.deepEqual(await probeRegions('', w.deps), { a: 12, b: 80 }, 'second probe of the session');
  assert.equal(w.fetched.length, before, 'the second probe of the session went to the network');
}

// The region list never comes: the page joins without RTTs once the bound
// has passed, and the request is aborted.
{
  const w = world({});
  const p = probeRegions('', w.deps);
  await w.run();
  assert.equal(await p, undefined);
  assert.equal(w.now(), budgetMs);
  assert.deepEqual(w.aborted, ['/v1/regions']);
  assert.equal(w.store.size, 0);
}

// The bound counts from the start: probes still running when it passes
// are cut off, whatever the list took.
{
  const w = world({
    '/v1/regions': { ms: budgetMs - 50, answer: regions([['a', ['http://a1/probe']], ['b', ['http://b1/probe']]]) },
    'http://a1/probe': { ms: 20, answer: { status: 0 } },
    'http://b1/probe': { ms: 40, answer: { status: 0 } },
  });
  const p = probeRegions('', w.deps);
  await w.run();
  // a: two rounds of 20 ms end 10 ms before the bound; b's second round
  // would end 30 ms after it.
  assert.deepEqual(await p, { a: 20, b: 40 });
  assert.ok(w.aborted.includes('http://b1/probe'), 'the probe past the bound was not aborted');
}

// One region: nothing to choose, nothing probed.
{
  const w = world({ '/v1/regions': { ms: 1, answer: regions([['only', ['http://o/probe']]]) } });
  const p = probeRegions('', w.deps);
  await w.run();
  assert.equal(await p, undefined);
  assert.deepEqual(w.fetched, ['/v1/regions']);
}
// The join waits for the probe joinWaitMs at most: a probe still running
// then is left behind (undefined), one that answered in time is used.
{
  const w = world({});
  const never = new Promise<number>(() => undefined);
  const p = atMost(never, joinWaitMs, w.deps.after);
  await w.run();
  assert.equal(await p, undefined);
  assert.equal(w.now(), joinWaitMs, 'the join waited past its bound');
  assert.equal(await atMost(Promise.resolve(7), joinWaitMs, w.deps.after), 7);
}
console.log('regions: ok');
