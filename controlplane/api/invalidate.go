package api

// ClearCache drops what the read cache holds (rooms and room roles): a
// change made through another replica (heard through store.Changes)
// shows at once instead of when the entries' TTL runs out.
func (a *API) ClearCache() { a.cache.clear() }
