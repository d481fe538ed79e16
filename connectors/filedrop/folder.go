package filedrop

// The folder's side of a file: which files are complete, taking one up,
// and finishing it into done/ or failed/ with its report.

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// pick finds the next complete file, preferring prefer (the runner's
// cursor's file). Files that need no reading (duplicates, refused links,
// unreadable files) are finished on the way.
func (s *Source) pick(root *os.Root, prefer string) (*current, error) {
	entries, err := fs.ReadDir(root.FS(), ".")
	if err != nil {
		return nil, fmt.Errorf("list drop folder: %w", err)
	}
	now := s.Now()
	present := map[string]bool{}
	ignoredNow := map[string]bool{}
	s.ignore = func(name string) {
		ignoredNow[name] = true
		if !s.ignored[name] {
			s.ignored[name] = true
			s.Log.Info("file ignored: its name does not match the pattern", "file", name, "pattern", s.cfg.Pattern)
		}
	}
	type candidate struct {
		name  string
		mtime time.Time
	}
	var ready []candidate
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || strings.HasPrefix(name, "~$") { // Excel's lock file of an open workbook
			continue
		}
		if s.cfg.Marker != "" && strings.HasSuffix(name, s.cfg.Marker) {
			continue
		}
		if !s.matches(name) {
			s.ignore(name)
			continue
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("stat %s: %w", name, err)
		}
		if !fi.Mode().IsRegular() {
			if err := s.refuse(root, name, fi); err != nil {
				return nil, err
			}
			continue
		}
		present[name] = true
		if strings.HasPrefix(name, ".") {
			if err := s.hidden(root, name, fi, now); err != nil {
				return nil, err
			}
			continue
		}
		if s.complete(root, name, fi, now) {
			ready = append(ready, candidate{name, fi.ModTime()})
		}
	}
	for name := range s.seen {
		if !present[name] {
			delete(s.seen, name)
		}
	}
	for name := range s.ignored {
		if !ignoredNow[name] {
			delete(s.ignored, name)
		}
	}
	sort.Slice(ready, func(i, j int) bool {
		a, b := ready[i], ready[j]
		if (a.name == prefer) != (b.name == prefer) {
			return a.name == prefer
		}
		if !a.mtime.Equal(b.mtime) {
			return a.mtime.Before(b.mtime)
		}
		return a.name < b.name
	})
	for _, c := range ready {
		cur, err := s.start(root, c.name)
		if err != nil || cur != nil {
			return cur, err
		}
	}
	return nil, nil
}

// HiddenGrace is how long, beyond stable_for, a file whose name starts
// with "." may stay unchanged before it is refused: rsync and editors
// write under such names and rename the file when it is complete, so one
// that stays is left over and would otherwise wait forever.
const HiddenGrace = time.Minute

// hidden handles a matching file whose name starts with ".": it is never
// read, and once unchanged for stable_for plus HiddenGrace it is refused
// to failed/ with a report saying why.
func (s *Source) hidden(root *os.Root, name string, fi fs.FileInfo, now time.Time) error {
	seen, ok := s.seen[name]
	if !ok || seen.size != fi.Size() || !seen.mtime.Equal(fi.ModTime()) {
		s.seen[name] = sighting{size: fi.Size(), mtime: fi.ModTime(), since: now}
		return nil
	}
	if now.Sub(seen.since) < s.cfg.StableFor+HiddenGrace {
		return nil
	}
	return s.finishEarly(root, Report{File: name, Status: StatusRefused, Started: now, Size: fi.Size(),
		Error: "is not read: names starting with . are taken as files still being written (rsync, editors), and this one stayed unchanged; rename it without the leading dot to load it"}, FailedDir)
}

// checkFolders makes sure done/, failed/ and .yiwang/ are folders of the
// drop folder itself: a link in their place would send reports and files
// elsewhere (os.Root refuses it, with an error that does not say why).
func checkFolders(root *os.Root) error {
	for _, d := range []string{DoneDir, FailedDir, StateDir} {
		fi, err := root.Lstat(d)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("stat %s: %w", d, err)
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return fmt.Errorf("%s/ in the drop folder is a symbolic link, not a folder: finished files and reports are kept only in a real folder inside the drop folder; remove the link and make a folder %s (its files, if any, can be moved into it)", d, d)
		}
		if !fi.IsDir() {
			return fmt.Errorf("%s in the drop folder is a file, not a folder: rename or remove it, and the connector makes the folder %s", d, d)
		}
	}
	return nil
}

func (s *Source) matches(name string) bool {
	lower := strings.ToLower(name)
	for _, p := range s.pattern {
		if ok, _ := filepath.Match(p, lower); ok {
			return true
		}
	}
	return false
}

// complete reports whether a file may be read: its marker exists, or its
// size and modification time held for stable_for.
func (s *Source) complete(root *os.Root, name string, fi fs.FileInfo, now time.Time) bool {
	if s.cfg.Marker != "" {
		m, err := root.Lstat(name + s.cfg.Marker)
		return err == nil && m.Mode().IsRegular()
	}
	seen, ok := s.seen[name]
	if !ok || seen.size != fi.Size() || !seen.mtime.Equal(fi.ModTime()) {
		s.seen[name] = sighting{size: fi.Size(), mtime: fi.ModTime(), since: now}
		return s.cfg.StableFor <= 0
	}
	return now.Sub(seen.since) >= s.cfg.StableFor
}

// start hashes a complete file and decides what to do with it: read it,
// resume it from its journal, or finish it at once as a duplicate or a
// failure. It returns nil when nothing is left to read.
func (s *Source) start(root *os.Root, name string) (*current, error) {
	now := s.Now()
	rep := Report{File: name, Started: now, Status: StatusFailed}
	f, err := root.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		rep.Error = fmt.Sprintf("cannot open: %v", err)
		return nil, s.finishEarly(root, rep, FailedDir)
	}
	fi, err := f.Stat()
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("stat %s: %w", name, err)
	}
	if !fi.Mode().IsRegular() {
		_ = f.Close()
		return nil, s.refuse(root, name, fi)
	}
	rep.Size = fi.Size()
	format := s.formatOf(name)
	rep.Format = format
	switch {
	case format == "":
		_ = f.Close()
		rep.Error = "unknown format: name it .csv, .xlsx or .ndjson, or set format"
		if strings.HasSuffix(strings.ToLower(name), ".xls") {
			rep.Error = "is an Excel 97-2003 workbook (.xls), which is not read; save it as .xlsx"
		}
		return nil, s.finishEarly(root, rep, FailedDir)
	case fi.Size() > s.cfg.MaxFileBytes:
		_ = f.Close()
		rep.Error = fmt.Sprintf("is %d bytes, more than max_file_bytes (%d); split it or raise the limit", fi.Size(), s.cfg.MaxFileBytes)
		return nil, s.finishEarly(root, rep, FailedDir)
	}
	h := sha256.New()
	scan := newUTF8Scan()
	var w io.Writer = h
	if format != FormatXLSX {
		w = io.MultiWriter(h, scan)
	}
	_, err = io.Copy(w, f)
	_ = f.Close()
	if err != nil {
		rep.Error = fmt.Sprintf("cannot read: %v", err)
		return nil, s.finishEarly(root, rep, FailedDir)
	}
	sha := hex.EncodeToString(h.Sum(nil))
	rep.SHA256 = sha
	if prev, ok := s.ix.Loaded[sha]; ok {
		return nil, s.duplicate(root, rep, prev)
	}
	enc := ""
	if format != FormatXLSX {
		if enc, err = detect(s.cfg.Encoding, scan); err != nil {
			rep.Error = err.Error()
			return nil, s.finishEarly(root, rep, FailedDir)
		}
	}
	name1, _ := json.Marshal(name)
	c := &current{name: name, sha: sha, format: format, enc: enc, size: fi.Size(), mtime: fi.ModTime(), started: now,
		cursorPrefix:   `{"sha256":"` + sha + `","file":` + string(name1) + `,"row":`,
		positionPrefix: "file:" + name + "#row="}
	prog, rejects, started, ok, err := readJournal(root, sha)
	if err != nil {
		return nil, err
	}
	if ok {
		c.prog, c.rejects = prog, rejects
		if !started.IsZero() {
			c.started = started
		}
	} else if err := appendJournal(root, sha, []journalLine{{File: name, Started: now}}); err != nil {
		return nil, err
	}
	return c, nil
}

func (s *Source) formatOf(name string) string {
	if s.cfg.Format != FormatAuto {
		return s.cfg.Format
	}
	switch strings.ToLower(path.Ext(name)) {
	case ".csv", ".txt":
		return FormatCSV
	case ".xlsx", ".xlsm":
		return FormatXLSX
	case ".ndjson", ".jsonl":
		return FormatNDJSON
	}
	return ""
}

// refuse moves a link or other non-regular file to failed/ without
// opening it.
func (s *Source) refuse(root *os.Root, name string, fi fs.FileInfo) error {
	rep := Report{File: name, Status: StatusRefused, Started: s.Now(),
		Error: fmt.Sprintf("is not a regular file (%s): only regular files directly in the drop folder are read, and links are never followed", fi.Mode().Type())}
	if fi.Mode()&fs.ModeSymlink != 0 {
		rep.Error = "is a symbolic link: only regular files directly in the drop folder are read, and links are never followed; copy the file itself"
	}
	return s.finishEarly(root, rep, FailedDir)
}

// duplicate finishes a file whose content was loaded before: it moves to
// done/ with a report naming the earlier file. A file whose own move to
// done/ was interrupted is moved on without a report of its own.
func (s *Source) duplicate(root *os.Root, rep Report, prev *loaded) error {
	if prev.Name == rep.File {
		_, jerr := root.Lstat(journalName(rep.SHA256))
		if _, err := root.Lstat(prev.StoredAs); errors.Is(err, fs.ErrNotExist) && jerr == nil {
			if err := root.Rename(rep.File, prev.StoredAs); err != nil {
				return fmt.Errorf("move %s to %s: %w", rep.File, prev.StoredAs, err)
			}
			s.removeMarker(root, rep.File)
			return s.removeJournal(root, rep.SHA256)
		}
	}
	at := prev.At
	rep.Status = StatusDuplicate
	rep.DuplicateOf, rep.LoadedAt = prev.Name, &at
	rep.Message = fmt.Sprintf("already loaded as %s at %s: nothing was produced", prev.Name, prev.At.Format(time.RFC3339))
	return s.finishEarly(root, rep, DoneDir)
}

// finishEarly writes the report of a file that produced nothing and moves
// the file beside it.
func (s *Source) finishEarly(root *os.Root, rep Report, dir string) error {
	rep.Finished = s.Now()
	rep.RejectedRows = []Rejected{}
	if rep.Message == "" {
		rep.Message = fmt.Sprintf("%s %s", rep.File, rep.Error)
	}
	target, err := uniqueTarget(root, dir, rep.File, rep.SHA256)
	if err != nil {
		return err
	}
	rep.StoredAs = target
	if err := s.writeReport(root, rep); err != nil {
		return err
	}
	if err := root.Rename(rep.File, target); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("move %s to %s: %w", rep.File, target, err)
	}
	s.removeMarker(root, rep.File)
	delete(s.seen, rep.File)
	s.Log.Info("file finished", "file", rep.File, "status", rep.Status, "stored_as", target)
	return nil
}

// finish ends the current file once every outcome arrived: report, index
// (the commit point), move, journal removed. Each step can be repeated
// after a crash without harm.
func (s *Source) finish(root *os.Root) error {
	c := s.cur
	if c.rows != nil {
		_ = c.rows.Close()
		c.rows = nil
	}
	rep := Report{File: c.name, Status: StatusLoaded, SHA256: c.sha, Size: c.size, Format: c.format, Encoding: c.enc, Sheet: c.sheet,
		Started: c.started, Finished: s.Now(), Rows: c.prog.Rows, Produced: c.prog.Produced, Rejected: c.prog.Rejected,
		BlankRows: c.prog.BlankRows, RejectedRows: c.rejects, IgnoredColumns: c.ignored, MissingColumns: c.missing}
	if rep.RejectedRows == nil {
		rep.RejectedRows = []Rejected{}
	}
	dir := DoneDir
	if c.failed != nil {
		dir = FailedDir
		rep.Status = StatusFailed
		rep.Error = c.failed.Error()
		rep.Message = fmt.Sprintf("%s could not be read to the end: %s; %d rows read before (%d produced, %d rejected)", c.name, rep.Error, rep.Rows, rep.Produced, rep.Rejected)
	} else {
		rep.Message = fmt.Sprintf("%d rows read: %d produced, %d rejected", rep.Rows, rep.Produced, rep.Rejected)
	}
	target, err := uniqueTarget(root, dir, c.name, c.sha)
	if err != nil {
		return err
	}
	rep.StoredAs = target
	if err := s.writeReport(root, rep); err != nil {
		return err
	}
	if c.failed == nil {
		s.ix.Loaded[c.sha] = &loaded{Name: c.name, StoredAs: target, At: rep.Finished, Rows: rep.Rows, Produced: rep.Produced, Rejected: rep.Rejected}
		if err := s.ix.write(root); err != nil {
			delete(s.ix.Loaded, c.sha)
			return err
		}
	}
	if err := root.Rename(c.name, target); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("move %s to %s: %w", c.name, target, err)
	}
	s.removeMarker(root, c.name)
	if err := s.removeJournal(root, c.sha); err != nil {
		return err
	}
	delete(s.seen, c.name)
	s.cur = nil
	s.Log.Info("file finished", "file", c.name, "status", rep.Status, "stored_as", target,
		"rows", rep.Rows, "produced", rep.Produced, "rejected", rep.Rejected)
	return nil
}

func (s *Source) removeJournal(root *os.Root, sha string) error {
	if err := root.Remove(journalName(sha)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove journal: %w", err)
	}
	return nil
}

// dropStaleJournals removes the journals of contents already loaded (a
// crash after the move); journals of files still to come stay.
func (s *Source) dropStaleJournals(root *os.Root) error {
	entries, err := fs.ReadDir(root.FS(), StateDir)
	if err != nil {
		return fmt.Errorf("list %s: %w", StateDir, err)
	}
	for _, e := range entries {
		sha, ok := strings.CutSuffix(e.Name(), ".journal")
		if !ok || s.ix.Loaded[sha] == nil {
			continue
		}
		if _, err := root.Lstat(s.ix.Loaded[sha].Name); err == nil {
			continue // its move may still be due
		}
		if err := s.removeJournal(root, sha); err != nil {
			return err
		}
	}
	return nil
}

func (s *Source) removeMarker(root *os.Root, name string) {
	if s.cfg.Marker != "" {
		_ = root.Remove(name + s.cfg.Marker)
	}
}

func (s *Source) writeReport(root *os.Root, rep Report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report of %s: %w", rep.File, err)
	}
	return writeAtomic(root, rep.StoredAs+ReportSuffix, append(b, '\n'))
}

// uniqueTarget names where a file goes in dir: its own name, or name.2.ext,
// name.3.ext... when taken. A report of the same content without its file
// (a move interrupted by a crash) is taken over.
func uniqueTarget(root *os.Root, dir, name, sha string) (string, error) {
	ext := path.Ext(name)
	base := strings.TrimSuffix(name, ext)
	for i := 1; i < 100000; i++ {
		cand := name
		if i > 1 {
			cand = base + "." + strconv.Itoa(i) + ext
		}
		p := dir + "/" + cand
		_, ferr := root.Lstat(p)
		_, rerr := root.Lstat(p + ReportSuffix)
		if !errors.Is(ferr, fs.ErrNotExist) {
			continue
		}
		if errors.Is(rerr, fs.ErrNotExist) {
			return p, nil
		}
		if sha != "" {
			if b, err := fs.ReadFile(root.FS(), p+ReportSuffix); err == nil {
				var r Report
				if json.Unmarshal(b, &r) == nil && r.SHA256 == sha && r.File == name {
					return p, nil
				}
			}
		}
	}
	return "", fmt.Errorf("no free name for %s in %s", name, dir)
}

// maxPatterns bounds the alternatives a pattern may expand to: each
// {a,b} group multiplies them, so a pattern of many groups would otherwise
// expand exponentially.
const maxPatterns = 64

// expandBraces expands {a,b} alternatives: "*.{csv,xlsx}" → "*.csv",
// "*.xlsx". It returns nil when the pattern expands to more than
// maxPatterns alternatives.
func expandBraces(p string) []string {
	out := []string{p}
	for {
		var next []string
		changed := false
		for _, q := range out {
			i := strings.IndexByte(q, '{')
			if i < 0 {
				next = append(next, q)
				continue
			}
			j := strings.IndexByte(q[i:], '}')
			if j < 0 {
				next = append(next, q)
				continue
			}
			changed = true
			for _, alt := range strings.Split(q[i+1:i+j], ",") {
				next = append(next, q[:i]+alt+q[i+j+1:])
				if len(next) > maxPatterns {
					return nil
				}
			}
		}
		out = next
		if !changed {
			return out
		}
	}
}
