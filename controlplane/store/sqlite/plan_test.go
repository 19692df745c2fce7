package sqlite

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
)

var numbered = regexp.MustCompile(`\?(\d+)`)

// params counts the parameters of q: the highest ?N, or the number of ?.
func params(q string) int {
	n := 0
	for _, m := range numbered.FindAllStringSubmatch(q, -1) {
		v, _ := strconv.Atoi(m[1])
		n = max(n, v)
	}
	if n == 0 {
		n = strings.Count(q, "?")
	}
	return n
}

// TestQueriesUseIndexes checks the plan of every prepared statement: none
// scans a tenant table (a scan would make the hot lookups, and the
// cascades, grow with the number of rows). Only the operator-level lists of
// clients and signing keys, which are small by nature, may scan.
func TestQueriesUseIndexes(t *testing.T) {
	s := openTemp(t)
	allowed := []string{"SCAN clients", "SCAN signing_keys", "SCAN (subquery", "SCAN CONSTANT ROW"}
	for _, q := range s.st.queries {
		// Parameters are left unbound (NULL): the plan does not depend on them.
		rows, err := s.writer.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+q, make([]any, params(q))...)
		if err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, unused int
			var detail string
			if err := rows.Scan(&id, &parent, &unused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		if testing.Verbose() {
			t.Logf("%s\n    => %s", strings.Join(strings.Fields(q), " "), strings.Join(plan, "; "))
		}
		for _, step := range plan {
			if !strings.HasPrefix(step, "SCAN") {
				continue
			}
			ok := false
			for _, a := range allowed {
				ok = ok || strings.HasPrefix(step, a)
			}
			if !ok {
				t.Errorf("query scans: %s\n  plan: %s\n  sql: %s", step, strings.Join(plan, "; "), q)
			}
		}
	}
}
