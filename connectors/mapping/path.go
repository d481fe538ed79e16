package mapping

import (
	"fmt"
	"strconv"
	"strings"
)

// step is one segment of a path: an object key, and for a segment of
// digits (a.0) or a bracket (a[0]) an array index.
type step struct {
	key     string
	index   int  // -1: not an index
	bracket bool // a[0]: an index only, never a key
}

// parsePath reads fsdd.wgbm, items[0].code or items.0.code.
func parsePath(p string) ([]step, error) {
	hint := "write names separated by dots, e.g. fsdd.wgbm or items[0].code"
	var out []step
	for _, seg := range strings.Split(p, ".") {
		name, rest, _ := strings.Cut(seg, "[")
		if name == "" && (rest == "" || len(out) == 0) {
			return nil, fmt.Errorf("path %q has an empty name; %s", p, hint)
		}
		if name != "" {
			s := step{key: name, index: -1}
			if n, err := strconv.Atoi(name); err == nil && n >= 0 && name == strconv.Itoa(n) {
				s.index = n
			}
			out = append(out, s)
		}
		if !strings.Contains(seg, "[") {
			continue
		}
		rest = "[" + rest
		for rest != "" {
			inner, after, ok := strings.Cut(rest[1:], "]")
			n, err := strconv.Atoi(inner)
			if rest[0] != '[' || !ok || err != nil || n < 0 || inner != strconv.Itoa(n) {
				return nil, fmt.Errorf("path %q: an index is a number in brackets, e.g. items[0]; %s", p, hint)
			}
			out = append(out, step{index: n, bracket: true})
			rest = after
		}
	}
	return out, nil
}

// lookup follows path in v; present is false when a step does not exist
// (a missing key, an index past the end, a step into a scalar).
func lookup(v any, path []step) (any, bool) {
	for _, s := range path {
		switch x := v.(type) {
		case map[string]any:
			if s.bracket {
				return nil, false
			}
			e, ok := x[s.key]
			if !ok {
				return nil, false
			}
			v = e
		case []any:
			if s.index < 0 || s.index >= len(x) {
				return nil, false
			}
			v = x[s.index]
		default:
			return nil, false
		}
	}
	return v, true
}

// remove deletes what path points at (an array element becomes null) and
// reports whether it was there.
func remove(v any, path []step) bool {
	if len(path) == 0 {
		return false
	}
	parent, ok := lookup(v, path[:len(path)-1])
	if !ok {
		return false
	}
	last := path[len(path)-1]
	switch x := parent.(type) {
	case map[string]any:
		if _, ok := x[last.key]; ok && !last.bracket {
			delete(x, last.key)
			return true
		}
	case []any:
		if last.index >= 0 && last.index < len(x) {
			x[last.index] = nil
			return true
		}
	}
	return false
}
