package layout

import (
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// pkg is what `go list -deps` says of one of the module's packages.
type pkg struct {
	ImportPath string
	Imports    []string // direct, without tests
	Deps       []string // every package it depends on, without tests
}

// list runs `go list -deps` over the module and returns its own packages.
func list(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-json=ImportPath,Imports,Deps,Module", Module+"/...")
	cmd.Dir = "../.."
	out, err := cmd.Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("go list: %v\n%s", err, stderr)
	}
	var pkgs []pkg
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p struct {
			pkg
			Module *struct{ Path string }
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if p.Module != nil && p.Module.Path == Module {
			pkgs = append(pkgs, p.pkg)
		}
	}
	return pkgs
}

func rel(path string) (string, bool) {
	if path == Module {
		return "", true
	}
	r, ok := strings.CutPrefix(path, Module+"/")
	return r, ok
}

// violations returns every break of the rule in pkgs, one line each.
func violations(pkgs []pkg, layers map[string]Layer) []string {
	var out []string
	for _, p := range pkgs {
		name, ok := rel(p.ImportPath)
		if !ok {
			continue
		}
		from, known := layers[name]
		if !known {
			out = append(out, fmt.Sprintf("%s has no layer: add it to layout.Layers with what it owns", name))
			continue
		}
		for _, imp := range p.Imports {
			to, ok := rel(imp)
			if !ok {
				continue
			}
			l, known := layers[to]
			if known && l.Rank <= from.Rank {
				out = append(out, fmt.Sprintf("%s (layer %d) imports %s (layer %d): a package imports only layers with higher numbers; move the code it needs down, or itself up",
					name, from.Rank, to, l.Rank))
			}
		}
		if from.Tool || name == "cmd/yiwang" {
			continue
		}
		for _, dep := range p.Deps {
			to, ok := rel(dep)
			if !ok {
				continue
			}
			if l := layers[to]; l.Tool {
				out = append(out, fmt.Sprintf("%s depends on %s, which only the command and tests may import", name, to))
			}
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// TestImportsPointOneWay holds the module to Layers.
func TestImportsPointOneWay(t *testing.T) {
	pkgs := list(t)
	if len(pkgs) < len(Layers)-1 {
		t.Fatalf("go list found %d of the module's packages, Layers names %d", len(pkgs), len(Layers))
	}
	for _, v := range violations(pkgs, Layers) {
		t.Error(v)
	}
	seen := map[string]bool{}
	for _, p := range pkgs {
		r, _ := rel(p.ImportPath)
		seen[r] = true
	}
	for name := range Layers {
		if !seen[name] {
			t.Errorf("layout.Layers names %s, which is no package of the module", name)
		}
	}
}

// TestPlantedViolationsAreFound: the check finds an import that points up,
// a tool used below the command (also through another package), and a
// package without a layer.
func TestPlantedViolationsAreFound(t *testing.T) {
	pkgs := list(t)
	plant := func(name, imp string) []pkg {
		out := slices.Clone(pkgs)
		for i, p := range out {
			if p.ImportPath == Module+"/"+name {
				p.Imports = append(slices.Clone(p.Imports), Module+"/"+imp)
				p.Deps = append(slices.Clone(p.Deps), Module+"/"+imp)
				out[i] = p
			}
		}
		return out
	}
	cases := []struct {
		name string
		pkgs []pkg
		want string
	}{
		{"store imports queries", plant("internal/store", "queries"),
			"internal/store (layer 70) imports queries (layer 45): a package imports only layers with higher numbers"},
		{"api imports the simulator", plant("internal/api", "internal/simulate"),
			"internal/api depends on internal/simulate, which only the command and tests may import"},
		{"pipelines imports the benchmark", plant("pipelines", "internal/bench"),
			"pipelines (layer 20) imports internal/bench (layer 10)"},
		{"a package without a layer", append(slices.Clone(pkgs), pkg{ImportPath: Module + "/internal/misc"}),
			"internal/misc has no layer: add it to layout.Layers"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := violations(tc.pkgs, Layers)
			found := false
			for _, v := range got {
				found = found || strings.Contains(v, tc.want)
			}
			if !found {
				t.Errorf("no violation %q in %q", tc.want, got)
			}
		})
	}
	if v := violations(pkgs, Layers); len(v) > 0 {
		t.Errorf("the module itself breaks the rule: %q", v)
	}
}
