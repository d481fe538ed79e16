package filedrop

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
	"time"
)

// Folders inside the drop folder.
const (
	DoneDir   = "done"
	FailedDir = "failed"
	StateDir  = ".yiwang"
	indexFile = StateDir + "/index.json"
	// ReportSuffix ends the name of a file's report, next to the file.
	ReportSuffix = ".report.json"
)

// Statuses of a finished file.
const (
	StatusLoaded    = "loaded"    // read to the end; every row produced or dead-lettered
	StatusDuplicate = "duplicate" // the same content was loaded before: nothing produced
	StatusFailed    = "failed"    // could not be read (to the end); in failed/
	StatusRefused   = "refused"   // not a regular file (a symbolic link...), or a name starting with "." left unchanged; in failed/, never opened
)

// Report is what became of one dropped file, kept as <name>.report.json
// next to it in done/ or failed/. It holds row numbers, field names and
// reasons, never a cell's value of a personal field.
type Report struct {
	File     string    `json:"file"`      // the name it was dropped as
	StoredAs string    `json:"stored_as"` // done/<name> or failed/<name>, relative to the drop folder
	Status   string    `json:"status"`
	Message  string    `json:"message"` // one sentence for the data clerk
	SHA256   string    `json:"sha256,omitempty"`
	Size     int64     `json:"size"`
	Format   string    `json:"format,omitempty"`
	Encoding string    `json:"encoding,omitempty"`
	Sheet    string    `json:"sheet,omitempty"`
	Started  time.Time `json:"started_at"`
	Finished time.Time `json:"finished_at"`
	// Rows counts the data rows read (blank rows excepted); Produced of them
	// went to the record topic and Rejected to the dead-letter topic.
	Rows      int `json:"rows"`
	Produced  int `json:"produced"`
	Rejected  int `json:"rejected"`
	BlankRows int `json:"blank_rows,omitempty"`
	// RejectedRows lists every rejected row in row order.
	RejectedRows []Rejected `json:"rejected_rows"`
	// IgnoredColumns are header cells no mapping names; MissingColumns are
	// mapped headers absent from the file (optional fields).
	IgnoredColumns []string `json:"ignored_columns,omitempty"`
	MissingColumns []string `json:"missing_columns,omitempty"`
	// Error is why a failed file could not be read.
	Error string `json:"error,omitempty"`
	// DuplicateOf and LoadedAt name the earlier file with the same content.
	DuplicateOf string     `json:"duplicate_of,omitempty"`
	LoadedAt    *time.Time `json:"loaded_at,omitempty"`
}

// Rejected is one row sent to the dead-letter topic instead of loaded.
type Rejected struct {
	Row    int    `json:"row"`              // the row (sheet row or line) in the file
	Column string `json:"column,omitempty"` // the file's header of the field
	Field  string `json:"field,omitempty"`  // the schema field
	Reason string `json:"reason"`           // schema_violation, bad_area_code, unknown_area, ...
	// Message says what is wrong; it never carries a personal field's value.
	Message string `json:"message"`
}

// Reports reads the reports of every finished file of the drop folder dir,
// newest first. It reads nothing outside dir.
func Reports(dir string) ([]Report, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, fmt.Errorf("open drop folder: %w", err)
	}
	defer func() { _ = root.Close() }()
	files, err := reportFiles(root)
	if err != nil {
		return nil, err
	}
	out := make([]Report, 0, len(files))
	for _, f := range files {
		r, err := loadReport(root, f.name)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	sortReports(out)
	return out, nil
}

// reportFile is one report in done/ or failed/.
type reportFile struct {
	name string // done/<file>.report.json
	fs.FileInfo
}

// reportFiles lists the reports of a drop folder's finished files.
func reportFiles(root *os.Root) ([]reportFile, error) {
	if err := checkFolders(root); err != nil {
		return nil, err
	}
	var out []reportFile
	for _, sub := range []string{DoneDir, FailedDir} {
		entries, err := fs.ReadDir(root.FS(), sub)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", sub, err)
		}
		for _, e := range entries {
			if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), ReportSuffix) {
				continue
			}
			fi, err := e.Info()
			if errors.Is(err, fs.ErrNotExist) {
				continue // moved meanwhile
			}
			if err != nil {
				return nil, fmt.Errorf("stat report %s/%s: %w", sub, e.Name(), err)
			}
			out = append(out, reportFile{name: sub + "/" + e.Name(), FileInfo: fi})
		}
	}
	return out, nil
}

// writeAtomic writes name inside root through a temporary file and a
// rename, so that a reader sees the old content or the new, never a part.
func writeAtomic(root *os.Root, name string, data []byte) error {
	var rnd [6]byte
	_, _ = rand.Read(rnd[:])
	tmp := path.Join(path.Dir(name), ".tmp-"+hex.EncodeToString(rnd[:]))
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("create %s: %w", tmp, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = root.Rename(tmp, name)
	}
	if err != nil {
		_ = root.Remove(tmp)
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// loaded is the index entry of a content loaded before.
type loaded struct {
	Name     string    `json:"name"`
	StoredAs string    `json:"stored_as"`
	At       time.Time `json:"at"`
	Rows     int       `json:"rows"`
	Produced int       `json:"produced"`
	Rejected int       `json:"rejected"`
}

// index is .yiwang/index.json: the SHA-256 of every content read to the
// end, so that the same content dropped again (under any name) is a no-op.
type index struct {
	Version int                `json:"version"`
	Loaded  map[string]*loaded `json:"loaded"`
}

func readIndex(root *os.Root) (*index, error) {
	ix := &index{Version: 1, Loaded: map[string]*loaded{}}
	b, err := fs.ReadFile(root.FS(), indexFile)
	if errors.Is(err, fs.ErrNotExist) {
		return ix, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", indexFile, err)
	}
	if err := json.Unmarshal(b, ix); err != nil {
		return nil, fmt.Errorf("decode %s: %w (move it away to load every file again)", indexFile, err)
	}
	if ix.Loaded == nil {
		ix.Loaded = map[string]*loaded{}
	}
	return ix, nil
}

func (ix *index) write(root *os.Root) error {
	b, err := json.MarshalIndent(ix, "", " ")
	if err != nil {
		return fmt.Errorf("encode index: %w", err)
	}
	return writeAtomic(root, indexFile, b)
}

// journal is .yiwang/<sha256>.journal, the outcomes of a file being read:
// after each page whose outcomes all arrived, the page's rejected rows and
// a checkpoint (the last row settled and the counts). After a restart the
// file is read on from the last checkpoint, so its report stays whole.
type journalLine struct {
	File       string    `json:"file,omitempty"`
	Started    time.Time `json:"started_at,omitzero"`
	Reject     *Rejected `json:"reject,omitempty"`
	Checkpoint *progress `json:"checkpoint,omitempty"`
}

// progress is the state of a file through one row.
type progress struct {
	Through   int `json:"through"` // last row whose outcome is known
	Rows      int `json:"rows"`
	Produced  int `json:"produced"`
	Rejected  int `json:"rejected"`
	BlankRows int `json:"blank_rows"`
}

func journalName(sha string) string { return StateDir + "/" + sha + ".journal" }

// readJournal returns the progress of the last checkpoint, the rejected
// rows before it and when the file was started; a torn last line is
// ignored.
func readJournal(root *os.Root, sha string) (progress, []Rejected, time.Time, bool, error) {
	var p progress
	var started time.Time
	f, err := root.Open(journalName(sha))
	if errors.Is(err, fs.ErrNotExist) {
		return p, nil, started, false, nil
	}
	if err != nil {
		return p, nil, started, false, fmt.Errorf("open journal: %w", err)
	}
	defer func() { _ = f.Close() }()
	var kept, tentative []Rejected
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var l journalLine
		if json.Unmarshal(sc.Bytes(), &l) != nil {
			break
		}
		switch {
		case l.Reject != nil:
			tentative = append(tentative, *l.Reject)
		case l.Checkpoint != nil:
			p = *l.Checkpoint
			kept, tentative = append(kept, tentative...), nil
		case l.File != "":
			started = l.Started
		}
	}
	return p, kept, started, true, nil
}

func appendJournal(root *os.Root, sha string, lines []journalLine) error {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	for _, l := range lines {
		if err := enc.Encode(l); err != nil {
			return fmt.Errorf("encode journal: %w", err)
		}
	}
	f, err := root.OpenFile(journalName(sha), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("open journal: %w", err)
	}
	_, err = io.Copy(f, &buf)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("append journal: %w", err)
	}
	return nil
}
