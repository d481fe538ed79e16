package queries

import (
	"context"
	"reflect"
	"testing"
)

// TestResolveScope: each kind of grant, in the test hierarchy, resolved to
// the areas and units it may see, and the SQL condition agreeing with
// Covers on every code.
func TestResolveScope(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for _, tc := range []struct {
		grants []string
		want   Scope
	}{
		{[]string{DistrictCode}, Scope{All: true}},
		{[]string{"ccna"}, Scope{All: true}}, // the top of the responsibility tree
		{[]string{"220173002"}, Scope{Areas: []string{"220173002"}, Units: []string{"cm-220173002001", "st-220173002"}}},
		{[]string{"220173002001", "220173002"}, Scope{Areas: []string{"220173002"}, Units: []string{"cm-220173002001", "st-220173002"}}},
		{[]string{"220173002002"}, Scope{Areas: []string{"220173002002"}}},
		{[]string{"ccna-bh"}, Scope{Areas: []string{"220173002"}, Units: []string{"ccna-bh", "cm-220173002001", "st-220173002"}}},
		{[]string{"cm-220173002001", "220103011"}, Scope{Areas: []string{"220103011", "220173002001"}, Units: []string{"cm-220173002001", "st-220103011"}}},
		{nil, Scope{}},
	} {
		got, err := ResolveScope(ctx, e.db, tc.grants)
		if err != nil {
			t.Fatalf("%v: %v", tc.grants, err)
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%v: %+v, want %+v", tc.grants, got, tc.want)
		}
		codes := []string{"district", "220173", "220173002", "220173002001", "220173002001002", "220173002002001", "220173003001001",
			"220103011001", "ccna", "ccna-bh", "st-220173002", "cm-220173002001", "st-220103011", "2201730020"}
		for _, code := range codes {
			cond, args := got.CondAt("c", 2)
			var in bool
			if err := e.db.QueryRow("SELECT "+cond+" FROM (SELECT $1 AS c)", append([]any{code}, args...)...).Scan(&in); err != nil {
				t.Fatal(err)
			}
			if in != got.Covers(code) {
				t.Errorf("%v: SQL says %s is in: %v, Covers says %v", tc.grants, code, in, got.Covers(code))
			}
		}
	}
	if _, err := ResolveScope(ctx, e.db, []string{"220173002", "nowhere"}); err == nil {
		t.Error("a grant of no area and no unit resolved")
	}
}
