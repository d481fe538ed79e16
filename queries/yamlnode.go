package queries

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/yiwang-gov/yiwang/internal/diag"
	"go.yaml.in/yaml/v3"
)

// decoder reads YAML nodes into values by hand, so that every problem is
// reported with its position and field path and none stops the others.
type decoder struct {
	file  string
	probs Problems
}

func (d *decoder) bad(n *yaml.Node, path, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	if path != "" {
		msg = path + ": " + msg
	}
	p := Problem{File: d.file, Msg: msg}
	if n != nil {
		p.Line, p.Col = n.Line, n.Column
	}
	d.probs = append(d.probs, p)
}

// deref refuses aliases: a header is short enough to write out, and
// refusing them rules out alias bombs. A missing node (nil: require
// reported it) is nil.
func (d *decoder) deref(n *yaml.Node, path string) *yaml.Node {
	if n == nil {
		return nil
	}
	if n.Kind == yaml.AliasNode {
		d.bad(n, path, "YAML aliases (*name) are not allowed; write the value out")
		return nil
	}
	return n
}

// mapping checks that n is a mapping with only known keys (any key when
// none is given), each once, and returns the value node of every key
// present. It returns nil if n is not a mapping.
func (d *decoder) mapping(n *yaml.Node, path string, known ...string) map[string]*yaml.Node {
	if n = d.deref(n, path); n == nil {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		if len(known) == 0 {
			d.bad(n, path, "must be a mapping, got %s", diag.Describe(n))
		} else {
			d.bad(n, path, "must be a mapping of %s, got %s", strings.Join(known, ", "), diag.Describe(n))
		}
		return nil
	}
	out := map[string]*yaml.Node{}
	keys := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.bad(k, path, "keys must be plain words, got %s", diag.Describe(k))
			continue
		}
		if first, dup := keys[k.Value]; dup {
			d.bad(k, diag.Join(path, k.Value), "given twice (first on line %d); keep one", first)
			continue
		}
		keys[k.Value] = k.Line
		if len(known) > 0 && !slices.Contains(known, k.Value) { // none known: any key
			sorted := slices.Clone(known)
			slices.Sort(sorted)
			d.bad(k, diag.Join(path, k.Value), "unknown field; known fields are %s", strings.Join(sorted, ", "))
			continue
		}
		out[k.Value] = v
	}
	return out
}

// require reports every key of keys that m lacks, at the mapping's node.
func (d *decoder) require(n *yaml.Node, m map[string]*yaml.Node, path string, keys ...string) {
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			d.bad(n, diag.Join(path, k), "missing; add it")
		}
	}
}

func (d *decoder) scalar(n *yaml.Node, path, want string) bool {
	if n = d.deref(n, path); n == nil {
		return false
	}
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		d.bad(n, path, "must be %s, got %s", want, diag.Describe(n))
		return false
	}
	return true
}

// str reads a string. Numbers and booleans are refused rather than turned
// into text, so that a value means what it looks like.
func (d *decoder) str(n *yaml.Node, path string) (string, bool) {
	if !d.scalar(n, path, "a string") {
		return "", false
	}
	if n.Tag != "!!str" {
		d.bad(n, path, "must be a string, got %s; quote it", n.Value)
		return "", false
	}
	return n.Value, true
}

// text reads a non-empty string for people to read: no control characters
// but newlines, no leading or trailing space.
func (d *decoder) text(n *yaml.Node, path string) (string, bool) {
	s, ok := d.str(n, path)
	if !ok {
		return "", false
	}
	switch {
	case strings.TrimSpace(s) == "":
		d.bad(n, path, "is empty; write it")
		return "", false
	case strings.TrimSpace(s) != s:
		d.bad(n, path, "has leading or trailing space; remove it")
		return "", false
	case strings.IndexFunc(s, func(r rune) bool { return r != '\n' && (r < 0x20 || r == 0x7f) }) >= 0:
		d.bad(n, path, "contains a control character; remove it")
		return "", false
	case n.Style == 0 && n.LineComment != "":
		d.bad(n, path, "the text after \" #\" is a YAML comment, not part of the value; quote the value or write it as a block (>-)")
		return "", false
	}
	return s, true
}

func (d *decoder) number(n *yaml.Node, path string) (float64, bool) {
	if !d.scalar(n, path, "a number") {
		return 0, false
	}
	if n.Tag != "!!int" && n.Tag != "!!float" {
		d.bad(n, path, "must be a number, got %q", n.Value)
		return 0, false
	}
	f, err := strconv.ParseFloat(strings.ReplaceAll(n.Value, "_", ""), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		if n.Tag == "!!int" {
			if i, ierr := strconv.ParseInt(n.Value, 0, 64); ierr == nil {
				return float64(i), true
			}
		}
		d.bad(n, path, "must be a finite number, got %q", n.Value)
		return 0, false
	}
	return f, true
}

func (d *decoder) integer(n *yaml.Node, path string) (int, bool) {
	if !d.scalar(n, path, "a whole number") {
		return 0, false
	}
	i, err := strconv.ParseInt(n.Value, 10, 32)
	if n.Tag != "!!int" || err != nil {
		d.bad(n, path, "must be a whole number, got %q", n.Value)
		return 0, false
	}
	return int(i), true
}

func (d *decoder) boolean(n *yaml.Node, path string) (bool, bool) {
	if !d.scalar(n, path, "true or false") {
		return false, false
	}
	if n.Tag != "!!bool" {
		d.bad(n, path, "must be true or false, got %q", n.Value)
		return false, false
	}
	return n.Value == "true", true
}

// list returns the items of a sequence, or nil (reported) if n is none.
func (d *decoder) list(n *yaml.Node, path string) ([]*yaml.Node, bool) {
	if n = d.deref(n, path); n == nil {
		return nil, false
	}
	if n.Kind != yaml.SequenceNode {
		d.bad(n, path, "must be a list, got %s", diag.Describe(n))
		return nil, false
	}
	return n.Content, true
}
