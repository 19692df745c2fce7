// The page's own address: what it reads from the query string, and the
// credentials it takes out of the address bar.

/** The query parameters that carry credentials. */
export const credentialParams = ['accessToken', 'refreshToken', 'embedToken'] as const;

/**
 * takeCredentials returns the page's query parameters and removes the
 * credentials among them from the address bar (history.replaceState, so
 * the entry with them is gone from the history too): once read they are
 * in memory only, not in the bar a participant may copy and share, in a
 * screenshot, in the history or in a bookmark.
 */
export function takeCredentials(loc: Location, hist: History): URLSearchParams {
  const params = new URLSearchParams(loc.search);
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
  }
  return params;
}
