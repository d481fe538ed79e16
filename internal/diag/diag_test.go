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

// TestYAMLLine reads the line out of both forms of a YAML error.
func TestYAMLLine(t *testing.T) {
	for _, c := range []struct {
		in   string
		line int
		rest string
		ok   bool
	}{
		{"yaml: line 7: did not find expected key", 7, "did not find expected key", true},
		{"line 3: cannot unmarshal !!str `x` into int", 3, "cannot unmarshal !!str `x` into int", true},
		{"yaml: unmarshal errors", 0, "yaml: unmarshal errors", false},
		{"line x: nothing", 0, "line x: nothing", false},
	} {
		line, rest, ok := YAMLLine(c.in)
		if line != c.line || rest != c.rest || ok != c.ok {
			t.Errorf("%q: %d %q %v", c.in, line, rest, ok)
		}
	}
}
