// Package analytics owns the rules of call history: who may read a
// space's calls (its owner and moderators), which calls a query selects,
// and a call's report, each participant's stays with their durations. The
// calls themselves are recorded from the edges' reports by the store
// (store.Calls, fed by controlplane/webhook); this package only reads them.
package analytics
