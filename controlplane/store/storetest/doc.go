// Package storetest is the contract suite of store.Store: the behaviour every
// implementation (SQLite today, PostgreSQL later) must show, written once
// against the interface. An implementation's test calls Run with a function
// that opens a fresh, empty store for each subtest:
//
//	func TestContract(t *testing.T) {
//		storetest.Run(t, func(t *testing.T) store.Store {
//			s, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "db"), nil)
//			if err != nil {
//				t.Fatal(err)
//			}
//			t.Cleanup(func() { s.Close() })
//			return s
//		})
//	}
//
// The suite covers every method: create, get, list, update and delete of
// each entity, pagination with totals, newest-first order, conflicts,
// cascading deletes, tenant isolation (a foreign id answers
// store.ErrNotFound and changes nothing) and the exactly-once single-use
// operations under 200 concurrent callers.
package storetest
