// The page's own address: what it reads from the query string, and the
// credentials it takes out of the address bar.

/** The query parameters that carry credentials. */
const credentialParams = ['accessToken', 'refreshToken', 'embedToken'] as const;

/**
 * The single-use credentials a reload of the tab reuses: the server then
 * tells a spent invitation (410) from a missing one. A refresh token is
 * not kept: it rotates, and presenting it again would revoke the user's
 * sign-in.
 */
const kept = ['accessToken', 'embedToken'] as const;

/**
 * takeCredentials returns the page's query parameters and removes the
 * credentials among them from the address bar (history.replaceState, so
 * the entry with them is gone from the history too): once read they are
 * in memory only, not in the bar a participant may copy and share, in a
 * screenshot, in the history or in a bookmark. The single-use ones are
 * kept in the tab's sessionStorage (as the session credential is), so a
 * reload of the tab still knows what it was opened with.
 */
export function takeCredentials(alias: string, loc: Location, hist: History): URLSearchParams {
  const params = new URLSearchParams(loc.search);
  const key = 'spacecast.credentials.' + alias;
  const rest = new URLSearchParams(loc.search);
  let found = false;
  for (const name of credentialParams) {
    if (rest.has(name)) {
      rest.delete(name);
      found = true;
    }
  }
  if (found) {
    const q = rest.toString();
    hist.replaceState(hist.state, '', loc.pathname + (q ? '?' + q : '') + loc.hash);
    const keep: Record<string, string> = {};
    for (const name of kept) {
      const v = params.get(name);
      if (v) keep[name] = v;
    }
    store(key, Object.keys(keep).length ? JSON.stringify(keep) : null);
    return params;
  }
  // A reload: the credentials the tab was opened with.
  try {
    const saved = JSON.parse(load(key) || '{}') as Record<string, unknown>;
    for (const name of kept) {
      const v = saved[name];
      if (typeof v === 'string' && v) params.set(name, v);
    }
  } catch {
    /* nothing usable kept */
  }
  return params;
}

function load(key: string): string | null {
  try {
    return sessionStorage.getItem(key);
  } catch {
    return null; // storage blocked (a sandboxed or third-party frame)
  }
}

function store(key: string, value: string | null): void {
  try {
    if (value === null) sessionStorage.removeItem(key);
    else sessionStorage.setItem(key, value);
  } catch {
    /* storage blocked: a reload then starts from the address alone */
  }
}
