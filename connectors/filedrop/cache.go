package filedrop

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"sync"
	"time"
)

// ReportCache serves a drop folder's reports to the API: the summaries
// (every report without its rejected rows) are kept in memory and a
// report file is read again only when its size or modification time
// changed, so that listing the files costs a directory read, however many
// rows their reports list.
type ReportCache struct {
	dir string

	mu      sync.Mutex
	entries map[string]cachedReport // by path inside the folder
}

type cachedReport struct {
	size    int64
	modTime time.Time
	summary Report // RejectedRows nil
}

// NewReportCache returns the cache of the drop folder dir.
func NewReportCache(dir string) *ReportCache {
	return &ReportCache{dir: dir, entries: map[string]cachedReport{}}
}

// Summaries returns every finished file's report without its rejected
// rows, newest first.
func (c *ReportCache) Summaries() ([]Report, error) {
	root, err := os.OpenRoot(c.dir)
	if err != nil {
		return nil, fmt.Errorf("open drop folder: %w", err)
	}
	defer func() { _ = root.Close() }()
	c.mu.Lock()
	defer c.mu.Unlock()
	files, err := reportFiles(root)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []Report
	for _, f := range files {
		seen[f.name] = true
		ce, ok := c.entries[f.name]
		if !ok || ce.size != f.Size() || !ce.modTime.Equal(f.ModTime()) {
			rep, err := loadReport(root, f.name)
			if err != nil {
				return nil, err
			}
			rep.RejectedRows = nil
			ce = cachedReport{size: f.Size(), modTime: f.ModTime(), summary: rep}
			c.entries[f.name] = ce
		}
		out = append(out, ce.summary)
	}
	for name := range c.entries {
		if !seen[name] {
			delete(c.entries, name)
		}
	}
	sortReports(out)
	return out, nil
}

// Report returns the whole report, rejected rows included, of the newest
// finished file dropped as file or stored as file (done/…, failed/…).
func (c *ReportCache) Report(file string) (Report, bool, error) {
	sums, err := c.Summaries()
	if err != nil {
		return Report{}, false, err
	}
	for _, s := range sums { // newest first: a name dropped twice shows its latest report
		if s.StoredAs != file && s.File != file {
			continue
		}
		root, err := os.OpenRoot(c.dir)
		if err != nil {
			return Report{}, false, fmt.Errorf("open drop folder: %w", err)
		}
		defer func() { _ = root.Close() }()
		rep, err := loadReport(root, s.StoredAs+ReportSuffix)
		if errors.Is(err, fs.ErrNotExist) {
			return Report{}, false, nil // moved away meanwhile
		}
		return rep, err == nil, err
	}
	return Report{}, false, nil
}

func loadReport(root *os.Root, name string) (Report, error) {
	b, err := fs.ReadFile(root.FS(), name)
	if err != nil {
		return Report{}, fmt.Errorf("read report %s: %w", name, err)
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return Report{}, fmt.Errorf("decode report %s: %w", name, err)
	}
	return r, nil
}

func sortReports(out []Report) {
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].Finished.Equal(out[j].Finished) {
			return out[i].Finished.After(out[j].Finished)
		}
		return out[i].StoredAs < out[j].StoredAs
	})
}
