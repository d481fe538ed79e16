package connectors

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestConnectorFolders: every connector folder has the same files — the
// code, README.md, sample.yaml, tests and testdata — and its README shows
// the sample configuration verbatim, so the docs cannot drift from it.
//
// A connector is a folder whose code asserts `var _ connectors.Source =
// (*Source)(nil)`, as STYLE.md asks of every connector; other folders
// (mapping, a library the runner uses) are not held to these files.
func TestConnectorFolders(t *testing.T) {
	entries, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		name := e.Name()
		if !isConnector(t, name) {
			t.Logf("%s: not a connector (no connectors.Source assertion); skipped", name)
			continue
		}
		n++
		t.Run(name, func(t *testing.T) {
			for _, f := range []string{name + ".go", "README.md", "sample.yaml"} {
				if _, err := os.Stat(filepath.Join(name, f)); err != nil {
					t.Errorf("missing %s/%s", name, f)
				}
			}
			if tests, _ := filepath.Glob(filepath.Join(name, "*_test.go")); len(tests) == 0 {
				t.Errorf("%s has no tests", name)
			}
			if data, _ := os.ReadDir(filepath.Join(name, "testdata")); len(data) == 0 {
				t.Errorf("%s has no testdata", name)
			}
			readme, _ := os.ReadFile(filepath.Join(name, "README.md"))
			sample, _ := os.ReadFile(filepath.Join(name, "sample.yaml"))
			if len(sample) == 0 || !strings.Contains(string(readme), "```yaml\n"+string(sample)+"```") {
				t.Errorf("%s/README.md does not show sample.yaml verbatim in a yaml block", name)
			}
		})
	}
	if n == 0 {
		t.Fatal("no connector folders")
	}
}

var sourceAssertion = regexp.MustCompile(`\b_\s+connectors\.Source\s*=\s*\(`)

// isConnector reports whether the non-test Go files of dir assert that
// something implements connectors.Source.
func isConnector(t *testing.T, dir string) bool {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if sourceAssertion.Match(b) {
			return true
		}
	}
	return false
}
