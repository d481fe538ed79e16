package diag

import (
	"fmt"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

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

// TestYAMLPaths: a field path is found, written and walked the same way,
// and a missing field is placed at the closest node written.
func TestYAMLPaths(t *testing.T) {
	doc, probs := ParseYAML("p.yaml", "kafka:\n  brokers: [a, b]\nsources:\n  - name: x\n    every: 5s\n", 0)
	if len(probs) > 0 {
		t.Fatal(probs)
	}
	if n, ok := Find(doc, "sources", 0, "every"); !ok || n.Value != "5s" || n.Line != 5 {
		t.Errorf("sources[0].every: %v %v", n, ok)
	}
	if n, ok := Find(doc, "sources", 3, "every"); ok || n.Line != 4 || n.Kind != yaml.SequenceNode {
		t.Errorf("missing sources[3] placed at line %d (found %v); want the list on line 4", n.Line, ok)
	}
	if got := Path("sources", 1, "every"); got != "sources[1].every" {
		t.Errorf("Path: %q", got)
	}
	var paths []string
	Walk(doc, "", func(p string, n *yaml.Node) { paths = append(paths, fmt.Sprintf("%s=%s@%d", p, n.Value, n.Line)) })
	want := "kafka.brokers[0]=a@2 kafka.brokers[1]=b@2 sources[0].name=x@4 sources[0].every=5s@5"
	if strings.Join(paths, " ") != want {
		t.Errorf("Walk: %s\nwant  %s", strings.Join(paths, " "), want)
	}
	for text, want := range map[string]string{
		"a: [1,\n":        "p.yaml:1: not valid YAML",
		"a: 1\n---\nb: 2": "p.yaml:2: a second YAML document",
	} {
		if _, probs := ParseYAML("p.yaml", text, 0); len(probs) != 1 || !strings.HasPrefix(probs[0].Error(), want) {
			t.Errorf("%q: %v, want %s…", text, probs, want)
		}
	}
}
