package connectors

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConnectorFolders: every connector folder has the same files — the
// code, README.md, sample.yaml, tests and testdata — and its README shows
// the sample configuration verbatim, so the docs cannot drift from it.
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
