package pipelines

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestConnectorFolders: every connector type of the registry has its
// folder under connectors/ with the same files — the code, README.md,
// sample.yaml, tests and testdata — and its README shows the sample
// configuration verbatim, so the docs cannot drift from it; every folder
// there that is no connector of the registry is a library of the runner's.
func TestConnectorFolders(t *testing.T) {
	blocks := map[string]string{}
	for _, ct := range connectorTypes {
		if other, dup := blocks[ct.block]; dup {
			t.Errorf("%s and %s both use the %s: block", ct.name, other, ct.block)
		}
		blocks[ct.block] = ct.name
		t.Run(ct.name, func(t *testing.T) {
			dir := filepath.Join("..", "connectors", ct.name)
			for _, f := range []string{ct.name + ".go", "README.md", "sample.yaml"} {
				if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
					t.Errorf("missing connectors/%s/%s", ct.name, f)
				}
			}
			if tests, _ := filepath.Glob(filepath.Join(dir, "*_test.go")); len(tests) == 0 {
				t.Errorf("connectors/%s has no tests", ct.name)
			}
			if data, _ := os.ReadDir(filepath.Join(dir, "testdata")); len(data) == 0 {
				t.Errorf("connectors/%s has no testdata", ct.name)
			}
			readme, _ := os.ReadFile(filepath.Join(dir, "README.md"))
			sample, _ := os.ReadFile(filepath.Join(dir, "sample.yaml"))
			if len(sample) == 0 || !strings.Contains(string(readme), "```yaml\n"+string(sample)+"```") {
				t.Errorf("connectors/%s/README.md does not show sample.yaml verbatim in a yaml block", ct.name)
			}
			// The sample is a source of this type that the config check
			// accepts as far as its own block goes.
			if len(sample) > 0 && !strings.Contains(string(sample), "type: "+ct.name) {
				t.Errorf("connectors/%s/sample.yaml has no source of type %s", ct.name, ct.name)
			}
		})
	}
	entries, err := os.ReadDir(filepath.Join("..", "connectors"))
	if err != nil {
		t.Fatal(err)
	}
	libraries := map[string]bool{"mapping": true} // the runner's, not sources
	for _, e := range entries {
		if _, ok := connectorTypeOf(e.Name()); e.IsDir() && !ok && !libraries[e.Name()] {
			t.Errorf("connectors/%s is neither a connector of the registry (pipelines/registry.go) nor a known library", e.Name())
		}
	}
}
