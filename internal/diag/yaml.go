package diag

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"
)

// ParseYAML parses text as one YAML document and returns its top node (nil
// for an empty document, with no problem). A syntax error is placed at the
// line the parser names, else at fallbackLine; a second document is
// refused. Positions are the text's own: a caller that parses a part of a
// file keeps the file's line numbers by keeping its lines.
func ParseYAML(file, text string, fallbackLine int) (*yaml.Node, Problems) {
	dec := yaml.NewDecoder(strings.NewReader(text))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, nil
		}
		return nil, Problems{yamlProblem(file, err, fallbackLine)}
	}
	var more yaml.Node
	if err := dec.Decode(&more); !errors.Is(err, io.EOF) {
		if err != nil {
			return nil, Problems{yamlProblem(file, err, fallbackLine)}
		}
		return nil, Problems{{File: file, Line: more.Line, Msg: "a second YAML document starts here; keep one document (remove ---)"}}
	}
	if len(doc.Content) == 0 {
		return nil, nil
	}
	return doc.Content[0], nil
}

func yamlProblem(file string, err error, fallbackLine int) Problem {
	msg := err.Error()
	if line, rest, ok := YAMLLine(msg); ok {
		return Problem{File: file, Line: line, Msg: "not valid YAML: " + rest}
	}
	return Problem{File: file, Line: fallbackLine, Msg: "not valid YAML: " + strings.TrimPrefix(msg, "yaml: ")}
}

// Join appends a mapping key to a field path: "" + "kafka" is "kafka",
// "kafka" + "brokers" is "kafka.brokers".
func Join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// Path writes a field path given as keys (strings) and list indexes
// (ints): ("sources", 1, "every") is "sources[1].every".
func Path(parts ...any) string {
	var b strings.Builder
	for _, p := range parts {
		switch k := p.(type) {
		case string:
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(k)
		case int:
			fmt.Fprintf(&b, "[%d]", k)
		}
	}
	return b.String()
}

// Find follows a field path (as Path takes it) from n. It returns the node
// there and true, or, when the path is not written, the closest node on
// the way and false — the place to report what is missing.
func Find(n *yaml.Node, parts ...any) (*yaml.Node, bool) {
	for _, p := range parts {
		next := (*yaml.Node)(nil)
		switch k := p.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == k {
						next = n.Content[i+1]
						break
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && k >= 0 && k < len(n.Content) {
				next = n.Content[k]
			}
		}
		if next == nil {
			return n, false
		}
		n = next
	}
	return n, true
}

// Walk calls fn for every scalar value under n (mapping keys are not
// visited) with its field path, path being n's own.
func Walk(n *yaml.Node, path string, fn func(path string, n *yaml.Node)) {
	switch n.Kind {
	case yaml.ScalarNode:
		fn(path, n)
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			Walk(n.Content[i+1], Join(path, n.Content[i].Value), fn)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			Walk(c, fmt.Sprintf("%s[%d]", path, i), fn)
		}
	case yaml.DocumentNode:
		for _, c := range n.Content {
			Walk(c, path, fn)
		}
	}
}

// Describe names a node's kind or value for a message: "a mapping",
// "a list", `"abc"`, "nothing (null)".
func Describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "nothing (null)"
		}
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}
