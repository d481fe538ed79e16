// Package diag is how yiwang tells a person what is wrong in a file they
// wrote — a pipeline file, a query file, a schema, a connector's block:
// one problem type that says where (file:line:col) and what to change,
// the list of them reported together, a connector's own field errors
// before they are placed in a file, and the YAML node positions both the
// pipeline file and the query files are reported by (ParseYAML, Find,
// Walk, Path).
package diag

import (
	"cmp"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Problem is one thing wrong in a file: where, and what to change.
type Problem struct {
	File      string
	Line, Col int // 1-based; 0 when the problem concerns the whole file (or line)
	Msg       string
}

// Error formats the problem as file:line:col: message, leaving out what
// is not known.
func (p Problem) Error() string {
	switch {
	case p.Line > 0 && p.Col > 0:
		return fmt.Sprintf("%s:%d:%d: %s", p.File, p.Line, p.Col, p.Msg)
	case p.Line > 0:
		return fmt.Sprintf("%s:%d: %s", p.File, p.Line, p.Msg)
	}
	return fmt.Sprintf("%s: %s", p.File, p.Msg)
}

// Problems are all the problems found, reported together, one a line.
type Problems []Problem

// Error lists the problems, one a line.
func (ps Problems) Error() string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.Error()
	}
	return strings.Join(s, "\n")
}

// Sorted orders problems by file, line and column, keeping the order of
// problems found at the same place.
func (ps Problems) Sorted() Problems {
	slices.SortStableFunc(ps, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
	})
	return ps
}

// FieldError is a connector's own configuration problem, by the path of
// the field in its block ("tls.mode"); the pipeline file's check places it
// at the field's line.
type FieldError struct{ Field, Msg string }

// Error returns "field: message".
func (e FieldError) Error() string { return e.Field + ": " + e.Msg }

// yamlLine is how go.yaml.in/yaml/v3 places its errors: "yaml: line N: ..."
// (a syntax error) or "line N: ..." (one item of a TypeError).
var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)

// YAMLLine splits a YAML error message into the line it names and the rest;
// ok is false when it names none.
func YAMLLine(msg string) (line int, rest string, ok bool) {
	m := yamlLine.FindStringSubmatch(msg)
	if m == nil {
		return 0, msg, false
	}
	line, err := strconv.Atoi(m[1])
	if err != nil {
		return 0, msg, false
	}
	return line, m[2], true
}
