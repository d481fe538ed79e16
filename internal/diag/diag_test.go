package diag

import "testing"

// TestProblemsSayWhere: a problem says file:line:col, or as much of it as
// is known; a list is sorted by place and keeps the order of problems at
// the same place.
func TestProblemsSayWhere(t *testing.T) {
	ps := Problems{
		{File: "b.yaml", Line: 3, Col: 5, Msg: "third"},
		{File: "a.yaml", Msg: "whole file"},
		{File: "b.yaml", Line: 3, Msg: "line only"},
		{File: "b.yaml", Line: 3, Col: 5, Msg: "fourth, same place"},
	}
	want := "a.yaml: whole file\nb.yaml:3: line only\nb.yaml:3:5: third\nb.yaml:3:5: fourth, same place"
	if got := ps.Sorted().Error(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if got := (FieldError{Field: "tls.mode", Msg: "must be verify-full"}).Error(); got != "tls.mode: must be verify-full" {
		t.Errorf("field error %q", got)
	}
}
