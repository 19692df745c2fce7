// Before the join, the page measures its round trip to each region's edges
// (the probe URLs of GET /v1/regions) and sends the RTTs with the join, so
// that the control plane places it in its nearest region without a map of
// addresses. The probe starts when the page loads, every region in
// parallel, and runs while the participant is on the pre-join step, for at
// most probeBudgetMs; the join waits for it at most joinWaitMs and goes
// with whatever it has then (nothing, at worst: the control plane then
// places by address or its default region). The RTTs are kept for the
// session, so a reload or a reconnect does not probe again.

/** RTTs are the measured round trips in milliseconds, by region. */
export type RTTs = Record<string, number>;

/** probeBudgetMs bounds the probe, from its start to its answer. */
export const probeBudgetMs = 3000;

/** joinWaitMs is the most a join waits for the probe. */
export const joinWaitMs = 300;

/** rounds per probe URL: the first pays for the connection, the second is the round trip. */
const rounds = 2;

const cacheKey = 'spacecast.rtts';

export interface ProbeDeps {
  fetch: typeof fetch;
  now: () => number;
  /** after resolves once ms have passed. */
  after: (ms: number) => Promise<void>;
  storage: Pick<Storage, 'getItem' | 'setItem'> | null;
}

interface RegionList {
  regions?: { name: string; probeUrls?: string[] }[];
}

function defaults(): ProbeDeps {
  let storage: ProbeDeps['storage'] = null;
  try {
    storage = sessionStorage;
  } catch {
    /* storage blocked: probe on every join */
  }
  return {
    fetch: (input, init) => fetch(input, init),
    now: () => performance.now(),
    after: (ms) => new Promise((r) => setTimeout(r, ms)),
    storage,
  };
}

function cached(s: ProbeDeps['storage']): RTTs | null {
  try {
    const v = s?.getItem(cacheKey);
    if (!v) return null;
    const m = JSON.parse(v) as unknown;
    if (!m || typeof m !== 'object' || Array.isArray(m)) return null;
    const out: RTTs = {};
    for (const [k, ms] of Object.entries(m as Record<string, unknown>)) if (typeof ms === 'number' && ms >= 0) out[k] = ms;
    return Object.keys(out).length ? out : null;
  } catch {
    return null;
  }
}

/**
 * probeRegions measures the RTT to every region (the fastest of its probe
 * URLs) within budgetMs (probeBudgetMs), and answers with the regions it heard from:
 * undefined when there is nothing to choose (one region or none, or none
 * answered). Later calls in the session answer from sessionStorage.
 */
export async function probeRegions(base = '', deps: ProbeDeps = defaults(), budgetMs = probeBudgetMs): Promise<RTTs | undefined> {
  const hit = cached(deps.storage);
  if (hit) return hit;
  const start = deps.now();
  const abort = new AbortController();
  const best: RTTs = {};
  const work = (async (): Promise<void> => {
    const r = await deps.fetch(base + '/v1/regions', { signal: abort.signal, cache: 'no-store' });
    if (!r.ok) return;
    const list = ((await r.json()) as RegionList).regions || [];
    if (list.length < 2) return;
    const probe = async (region: string, url: string): Promise<void> => {
      for (let i = 0; i < rounds; i++) {
        const t0 = deps.now();
        // no-cors: the edges are other origins; the answer is opaque, its
        // timing is all the page needs.
        await deps.fetch(url + (url.includes('?') ? '&' : '?') + 'n=' + i, { mode: 'no-cors', cache: 'no-store', signal: abort.signal });
        const ms = Math.max(0, Math.round(deps.now() - t0));
        best[region] = region in best ? Math.min(best[region], ms) : ms;
      }
    };
    await Promise.allSettled(list.flatMap((reg) => (reg.probeUrls || []).map((u) => probe(reg.name, u))));
  })().catch(() => undefined);
  await Promise.race([work, deps.after(Math.max(0, budgetMs - (deps.now() - start)))]);
  abort.abort(); // whatever is still in flight is too far to matter
  const rtts: RTTs = { ...best };
  if (Object.keys(rtts).length === 0) return undefined;
  try {
    deps.storage?.setItem(cacheKey, JSON.stringify(rtts));
  } catch {
    /* storage full or blocked */
  }
  return rtts;
}

/**
 * atMost is what p resolves to if it does within ms (by after), else
 * undefined: how the join waits for the probe.
 */
export async function atMost<T>(p: Promise<T>, ms: number, after: ProbeDeps['after'] = defaults().after): Promise<T | undefined> {
  return Promise.race([p, after(ms).then(() => undefined)]);
}
