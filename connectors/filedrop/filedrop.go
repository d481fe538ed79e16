// Package filedrop reads ledgers that people drop into a folder: the
// door-knocking (敲门行动) and storefront ledgers community workers keep in
// Excel, as XLSX, CSV (UTF-8, UTF-8 with BOM, GBK or GB18030) or NDJSON.
//
// A file is read only once it is complete: its size and modification time
// did not change for stable_for, or a marker file (<name>.done) stands next
// to it. Each row becomes one record of the source's schema through the
// mapping of the config: Chinese headers to fields, labels to enum codes,
// times read in declared layouts and a declared time zone, defaults, a key
// made from the row's content. A cell that cannot be read travels as its
// text, so that the runner's validation refuses the row to the dead-letter
// topic; the connector adds why to the file's report.
//
// Nothing outside the folder is read: files are opened through os.Root,
// only regular files directly in the folder are considered, and a symbolic
// link is refused without being followed.
//
// When the runner has reported the outcome of every row of a file
// (connectors.Outcomes), the file moves to done/ (or failed/ when it could
// not be read) with <name>.report.json beside it: rows read, produced,
// rejected and, per rejected row, its row number, field, reason and
// message. The content's SHA-256 goes to .yiwang/index.json, so that the
// same content dropped again under any name is moved to done/ with a report
// saying when it was loaded, and produces nothing.
//
// Delivery is at-least-once. The journal .yiwang/<sha256>.journal records,
// after every page whose outcomes all arrived, the rejected rows and the
// last settled row; a restarted connector reads the file on from there.
// The runner's cursor (the file's SHA-256 and the row handed out) only says
// which file to take up first. Rows re-read after a crash are produced
// again, and the loader's upsert absorbs them.
//
// The package exports no metrics of its own; the runner counts records and
// dead letters per source.
package filedrop

import (
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/yiwang-gov/yiwang/connectors"
	"github.com/yiwang-gov/yiwang/internal/diag"
	"github.com/yiwang-gov/yiwang/internal/pii"
	"github.com/yiwang-gov/yiwang/schemas"
)

// SampleConfig is sample.yaml, the documented example of a source.
//
//go:embed sample.yaml
var SampleConfig string

// Defaults.
const (
	DefaultPattern      = "*.{csv,xlsx,ndjson}"
	DefaultStableFor    = 5 * time.Second
	DefaultPageSize     = 1000
	DefaultMaxFileBytes = 256 << 20
	// UpdatedFileTime sets the version field to the file's modification time.
	UpdatedFileTime = "file_time"
)

// Config configures one drop folder. The zero value of every optional field
// means its default.
type Config struct {
	// Dir is the drop folder. done/, failed/ and .yiwang/ are made in it.
	Dir string `yaml:"dir"`
	// Pattern selects the files to read by name, a glob with {a,b}
	// alternatives, matched without regard to case (default
	// "*.{csv,xlsx,ndjson}").
	Pattern string `yaml:"pattern"`
	// Format is csv, xlsx, ndjson or auto (default: by the extension;
	// .jsonl is NDJSON).
	Format string `yaml:"format"`
	// Encoding of CSV and NDJSON files: auto (default), utf-8, gbk or
	// gb18030. Auto takes UTF-8 (with or without BOM) when the whole file is
	// valid UTF-8, else GB18030.
	Encoding string `yaml:"encoding"`
	// Delimiter of CSV fields (default ",").
	Delimiter string `yaml:"delimiter"`
	// Sheet of an XLSX workbook (default the first).
	Sheet string `yaml:"sheet"`
	// HeaderRow is the row of the column headers (default 1); rows above
	// it (a title, a date) are skipped.
	HeaderRow int `yaml:"header_row"`
	// Columns maps a header of the file to a schema field. Headers are
	// compared without any whitespace. Unmapped columns are ignored and
	// listed in the report.
	Columns map[string]string `yaml:"columns"`
	// Values maps, per field, a label of the file to the code the schema
	// wants (已见面: met). Text that already is a code is kept.
	Values map[string]map[string]string `yaml:"values"`
	// Types says how to read a field; by default from the schema's type.
	// Every time field needs one, with its time zone.
	Types map[string]FieldType `yaml:"types"`
	// Defaults are constant fields set on every record lacking them.
	Defaults map[string]any `yaml:"defaults"`
	// ID makes the key when no column fills it.
	ID IDRule `yaml:"id"`
	// UpdatedAt fills the schema's version field when no column does:
	// file_time (default: the file's modification time) or a field's name.
	UpdatedAt string `yaml:"updated_at"`
	// StableFor is how long a file's size and modification time must stay
	// unchanged before it is read (default 5s). Ignored with Marker.
	StableFor time.Duration `yaml:"stable_for"`
	// Marker, when set (e.g. ".done"), makes a file complete when a file of
	// its name plus Marker stands next to it.
	Marker string `yaml:"marker"`
	// PageSize is the most records handed to the runner per poll (default
	// 1000).
	PageSize int `yaml:"page_size"`
	// MaxFileBytes refuses larger files (default 256 MiB).
	MaxFileBytes int64 `yaml:"max_file_bytes"`
	// MaxUnzippedBytes refuses an XLSX whose parts unpack to more (default
	// 256 MiB): checked on the zip's declared sizes before anything is
	// unpacked, so a decompression bomb costs neither memory nor disk.
	MaxUnzippedBytes int64 `yaml:"max_unzipped_bytes"`
	// MaxRowBytes bounds one row: a CSV record, an NDJSON line, a sheet
	// row's XML or text (default 1 MiB, what one Kafka message holds). The
	// reader stops at a longer row without holding it: the file fails at
	// that row, the rows before it are kept.
	MaxRowBytes int64 `yaml:"max_row_bytes"`
	// MaxCellBytes bounds one mapped cell (default 128 KiB; Excel's own
	// limit is 32,767 characters): a row with a longer cell is refused
	// to the dead-letter topic with reason too_large, and the file goes on.
	MaxCellBytes int64 `yaml:"max_cell_bytes"`
}

// FieldType says how to read one field's text.
type FieldType struct {
	// Type is string, integer, number, boolean, time, date or list (split
	// on 、 , ，; ；).
	Type string `yaml:"type"`
	// Layout is one Go time layout or a list, tried in order; "excel"
	// accepts Excel serial dates. A time with an offset (RFC 3339) is
	// always accepted.
	Layout Layouts `yaml:"layout"`
	// Timezone is the IANA zone of naive times, e.g. Asia/Shanghai;
	// required for type time.
	Timezone string `yaml:"timezone"`
}

// Layouts is one time layout or a list of them.
type Layouts []string

// UnmarshalYAML accepts a string or a list of strings.
func (l *Layouts) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*l = Layouts{n.Value}
		return nil
	}
	var s []string
	if err := n.Decode(&s); err != nil {
		return fmt.Errorf("layout: want a string or a list of strings: %w", err)
	}
	*l = s
	return nil
}

// IDRule makes a record's key from its content, so that the same row
// delivered again gets the same key.
type IDRule struct {
	// Template names fields in braces: "{grid_code}-{target_id}-{visited_at}".
	Template string `yaml:"template"`
	// Hash stores the first 32 hex digits of the SHA-256 of the template's
	// result instead, or, without a template, of the row's mapped cells.
	Hash bool `yaml:"hash"`
}

// FieldError is one problem with a Config field; Field is a dotted path
// (columns.网格编码, types.visited_at.timezone).
type FieldError = diag.FieldError

// Validate reports every problem of the config on its own, naming the
// field and what to change. CheckSchema adds the problems against the
// source's schema.
func (c *Config) Validate() []FieldError {
	var out []FieldError
	add := func(f, format string, args ...any) {
		out = append(out, FieldError{Field: f, Msg: fmt.Sprintf(format, args...)})
	}
	if c.Dir == "" {
		add("dir", "is required: the folder files are dropped in")
	}
	if c.Pattern != "" {
		if strings.ContainsAny(c.Pattern, `/\`) {
			add("pattern", "must match names directly in dir, got %q", c.Pattern)
		} else if pats := expandBraces(c.Pattern); pats == nil {
			add("pattern", "expands to more than %d alternatives: use fewer {a,b} groups", maxPatterns)
		} else {
			for _, p := range pats {
				if _, err := filepath.Match(p, ""); err != nil {
					add("pattern", "is not a valid glob: %q", c.Pattern)
					break
				}
			}
		}
	}
	switch c.Format {
	case "", FormatAuto, FormatCSV, FormatXLSX, FormatNDJSON:
	default:
		add("format", "must be auto, csv, xlsx or ndjson, got %q", c.Format)
	}
	switch strings.ToLower(c.Encoding) {
	case "", EncodingAuto, EncodingUTF8, "utf8", EncodingGBK, EncodingGB18030:
	default:
		add("encoding", "must be auto, utf-8, gbk or gb18030, got %q", c.Encoding)
	}
	if c.Delimiter != "" && len([]rune(c.Delimiter)) != 1 {
		add("delimiter", "must be one character, got %q", c.Delimiter)
	}
	if c.HeaderRow < 0 || c.HeaderRow > 1000 {
		add("header_row", "must be 1-1000, got %d", c.HeaderRow)
	}
	if len(c.Columns) == 0 && c.Format != FormatNDJSON {
		add("columns", "is required: map each header of the file to a schema field, e.g. 网格编码: grid_code")
	}
	fieldOf := map[string]string{}
	for _, h := range sortedKeys(c.Columns) {
		f := c.Columns[h]
		n := normHeader(h)
		switch {
		case n == "":
			add("columns", "a header must not be empty")
		case f == "":
			add("columns."+h, "needs a schema field")
		case fieldOf[n] != "":
			add("columns."+h, "is the same header as another entry once whitespace is ignored")
		}
		fieldOf[n] = f
	}
	for _, f := range sortedKeys(c.Types) {
		t := c.Types[f]
		switch t.Type {
		case TypeString, TypeInteger, TypeNumber, TypeBoolean, TypeList:
			if len(t.Layout) > 0 || t.Timezone != "" {
				add("types."+f, "layout and timezone are for types time and date only")
			}
		case TypeTime, TypeDate:
			for _, l := range t.Layout {
				if l == LayoutExcel {
					continue
				}
				ref := time.Date(2026, 11, 26, 8, 30, 15, 0, time.UTC)
				if back, err := time.Parse(l, ref.Format(l)); err != nil || back.Year() != 2026 || back.Month() != 11 || back.Day() != 26 {
					add("types."+f+".layout", "%q is not a Go layout with year, month and day (write the reference time 2006-01-02 15:04:05 in the ledger's form, e.g. 2006/1/2 15:04)", l)
				}
			}
			if t.Type == TypeTime {
				if t.Timezone == "" {
					add("types."+f+".timezone", "is required: the time zone of the ledger's naive times, e.g. Asia/Shanghai")
				} else if _, err := time.LoadLocation(t.Timezone); err != nil {
					add("types."+f+".timezone", "%q is not a known time zone, e.g. Asia/Shanghai", t.Timezone)
				}
			} else if t.Timezone != "" {
				add("types."+f+".timezone", "is for type time only; a date has no zone")
			}
		default:
			add("types."+f+".type", "must be string, integer, number, boolean, time, date or list, got %q", t.Type)
		}
	}
	for _, f := range sortedKeys(c.Values) {
		if len(c.Values[f]) == 0 {
			add("values."+f, "is empty: map each label of the file to a code, e.g. 已见面: met")
		}
	}
	for _, f := range sortedKeys(c.Defaults) {
		switch c.Defaults[f].(type) {
		case string, int, int64, float64, bool, nil, []any:
		default:
			add("defaults."+f, "must be a string, number, boolean or list")
		}
	}
	if strings.Count(c.ID.Template, "{") != strings.Count(c.ID.Template, "}") || strings.Contains(c.ID.Template, "{}") {
		add("id.template", "has unbalanced or empty braces: %q", c.ID.Template)
	} else if c.ID.Template != "" && len(placeholder.FindAllString(c.ID.Template, -1)) == 0 {
		add("id.template", "names no field: write fields in braces, e.g. \"{grid_code}-{target_id}\"")
	}
	if c.StableFor < 0 {
		add("stable_for", "must be >= 0, got %q", c.StableFor)
	}
	if c.Marker != "" && (!strings.HasPrefix(c.Marker, ".") || strings.ContainsAny(c.Marker, `/\`) || len(c.Marker) < 2) {
		add("marker", "must be a suffix such as .done, got %q", c.Marker)
	}
	if c.PageSize < 0 || c.PageSize > 100000 {
		add("page_size", "must be 1-100000, got %d", c.PageSize)
	}
	if c.MaxFileBytes < 0 {
		add("max_file_bytes", "must be > 0, got %d", c.MaxFileBytes)
	}
	if c.MaxUnzippedBytes < 0 {
		add("max_unzipped_bytes", "must be > 0, got %d", c.MaxUnzippedBytes)
	}
	if c.MaxRowBytes < 0 || c.MaxRowBytes > 64<<20 {
		add("max_row_bytes", "must be 1 byte to 64 MiB, got %d", c.MaxRowBytes)
	}
	if c.MaxCellBytes < 0 || c.MaxRowBytes > 0 && c.MaxCellBytes > c.MaxRowBytes {
		add("max_cell_bytes", "must be > 0 and at most max_row_bytes, got %d", c.MaxCellBytes)
	}
	return out
}

// CheckSchema reports the problems of the mapping against the schema the
// source delivers: unknown fields, types that cannot fill a field, time
// fields without a declared zone, a key no column or rule fills.
func (c *Config) CheckSchema(s *schemas.Schema) []FieldError {
	_, errs := newPlan(c, s)
	return errs
}

func (c *Config) defaults() {
	if c.Pattern == "" {
		c.Pattern = DefaultPattern
	}
	if c.Format == "" {
		c.Format = FormatAuto
	}
	c.Encoding = strings.ToLower(c.Encoding)
	switch c.Encoding {
	case "":
		c.Encoding = EncodingAuto
	case "utf8":
		c.Encoding = EncodingUTF8
	}
	if c.Delimiter == "" {
		c.Delimiter = ","
	}
	if c.HeaderRow == 0 {
		c.HeaderRow = 1
	}
	if c.StableFor == 0 {
		c.StableFor = DefaultStableFor
	}
	if c.PageSize == 0 {
		c.PageSize = DefaultPageSize
	}
	if c.MaxFileBytes == 0 {
		c.MaxFileBytes = DefaultMaxFileBytes
	}
	if c.MaxUnzippedBytes == 0 {
		c.MaxUnzippedBytes = DefaultMaxUnzippedBytes
	}
	if c.MaxRowBytes == 0 {
		c.MaxRowBytes = DefaultMaxRowBytes
	}
	if c.MaxCellBytes == 0 {
		c.MaxCellBytes = min(DefaultMaxCellBytes, c.MaxRowBytes)
	}
}

// Source reads one drop folder. Poll and Outcome are called by one runner;
// the folder must not be shared with another source.
type Source struct {
	cfg     Config
	plan    *plan
	comma   rune
	pattern []string
	// Now is the clock of the stability check and the reports (default
	// time.Now).
	Now func() time.Time
	// Log gets one line per finished file: name, status and counts, never
	// a row's content (default: discarded).
	Log *slog.Logger

	mu      sync.Mutex
	seen    map[string]sighting
	ignored map[string]bool // names not matching the pattern, logged once
	ignore  func(name string)
	ix      *index
	cur     *current
}

var (
	_ connectors.Source   = (*Source)(nil)
	_ connectors.Outcomes = (*Source)(nil)
)

// New returns a source for cfg delivering records of schema s. It reports
// every problem of cfg, and fails when dir cannot be opened.
func New(cfg Config, s *schemas.Schema) (*Source, error) {
	errs := cfg.Validate()
	p, perrs := newPlan(&cfg, s)
	errs = append(errs, perrs...)
	if len(errs) > 0 {
		msgs := make([]string, len(errs))
		for i, e := range errs {
			msgs[i] = e.Error()
		}
		return nil, fmt.Errorf("file source: %s", strings.Join(msgs, "; "))
	}
	cfg.defaults()
	root, err := os.OpenRoot(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("open drop folder: %w", err)
	}
	if err := root.Close(); err != nil {
		return nil, fmt.Errorf("open drop folder: %w", err)
	}
	return &Source{cfg: cfg, plan: p, comma: []rune(cfg.Delimiter)[0], pattern: expandBraces(strings.ToLower(cfg.Pattern)),
		Now: time.Now, Log: slog.New(slog.DiscardHandler), seen: map[string]sighting{}, ignored: map[string]bool{}}, nil
}

// Cursor is the position after one record: the file's content hash and
// name, and the row handed out.
type Cursor struct {
	SHA256 string `json:"sha256"`
	File   string `json:"file"`
	Row    int    `json:"row"`
}

// ParseCursor decodes a cursor string; "" is the beginning.
func ParseCursor(s string) (Cursor, error) {
	var c Cursor
	if s == "" {
		return c, nil
	}
	if err := json.Unmarshal([]byte(s), &c); err != nil {
		return c, fmt.Errorf("decode cursor %q: %w", s, err)
	}
	if _, err := hex.DecodeString(c.SHA256); err != nil || len(c.SHA256) != 64 {
		return c, fmt.Errorf("cursor %q: sha256 must be 64 hex digits", s)
	}
	if c.Row < 0 {
		return c, fmt.Errorf("cursor %q: row must be >= 0", s)
	}
	return c, nil
}

// String encodes the cursor; the zero Cursor is "".
func (c Cursor) String() string {
	if c == (Cursor{}) {
		return ""
	}
	b, _ := json.Marshal(c)
	return string(b)
}

// sighting is a file's size and modification time and since when they held.
type sighting struct {
	size  int64
	mtime time.Time
	since time.Time
}

// current is the file being read.
type current struct {
	name, sha, format, enc, sheet string
	size                          int64
	mtime                         time.Time
	started                       time.Time
	rows                          rowReader // nil: (re)open and skip to prog.Through
	fields                        []string  // the field of each column ("" unmapped)
	ignored, missing              []string
	eof                           bool
	failed                        error
	prog                          progress   // settled rows
	rejects                       []Rejected // settled rejected rows
	// The page handed out last: rows awaiting their outcome (with the
	// conversion notes of each), and what arrived so far.
	page                          map[int][]note
	pageSize, pageBlank, pageLast int
	pageProduced                  int
	pageRejects                   []Rejected
	cursorPrefix, positionPrefix  string
}

// Poll hands out the next page of rows of the file being read, taking up
// the next complete file when one is finished. It blocks only for local
// I/O; an error (of the folder's own state: reports, index, moves) leaves
// everything to be retried by the next poll.
func (s *Source) Poll(ctx context.Context, cursor string) ([]connectors.Record, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// The cursor only says which file to take up first; one that does not
	// decode (another connector type's) is no reason to stop.
	hint, _ := ParseCursor(cursor)
	root, err := os.OpenRoot(s.cfg.Dir)
	if err != nil {
		return nil, false, fmt.Errorf("open drop folder: %w", err)
	}
	defer func() { _ = root.Close() }()
	if err := checkFolders(root); err != nil {
		return nil, false, err
	}
	if s.ix == nil {
		for _, d := range []string{DoneDir, FailedDir, StateDir} {
			if err := root.Mkdir(d, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
				return nil, false, fmt.Errorf("make %s: %w", d, err)
			}
		}
		ix, err := readIndex(root)
		if err != nil {
			return nil, false, err
		}
		s.ix = ix
		if err := s.dropStaleJournals(root); err != nil {
			s.ix = nil
			return nil, false, err
		}
	}
	if err := s.settle(root); err != nil {
		return nil, false, err
	}
	for ctx.Err() == nil {
		if s.cur != nil && s.cur.page == nil && (s.cur.eof || s.cur.failed != nil) {
			if err := s.finish(root); err != nil {
				return nil, false, err
			}
		}
		if s.cur == nil {
			cur, err := s.pick(root, hint.File)
			if err != nil || cur == nil {
				return nil, false, err
			}
			s.cur = cur
		}
		recs, err := s.read(root)
		if err != nil {
			return nil, false, err
		}
		if len(recs) > 0 {
			return recs, true, nil
		}
	}
	return nil, false, ctx.Err()
}

// Outcome records what became of one row handed out by the last Poll.
func (s *Source) Outcome(rec connectors.Record, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.cur
	if c == nil || c.page == nil || !strings.HasPrefix(rec.Position, c.positionPrefix) {
		return
	}
	row, perr := strconv.Atoi(rec.Position[len(c.positionPrefix):])
	if perr != nil {
		return
	}
	notes, ok := c.page[row]
	if !ok {
		return
	}
	delete(c.page, row)
	if err == nil {
		c.pageProduced++
		return
	}
	c.pageRejects = append(c.pageRejects, s.rejected(row, notes, err))
}

// rejected describes a refused row: the runner's reason and field, with
// the connector's own, more precise message when it could not read the
// field.
func (s *Source) rejected(row int, notes []note, err error) Rejected {
	r := Rejected{Row: row, Reason: schemas.ReasonSchema, Message: err.Error()}
	var re *schemas.RecordError
	if errors.As(err, &re) {
		r.Reason, r.Field, r.Message = re.Reason, re.Field, re.Msg
	}
	top, _, _ := strings.Cut(r.Field, "/")
	if c := s.plan.conv[top]; c != nil && c.column != top {
		r.Column = c.column
	} else if h := s.plan.headerOf(top); h != "" {
		r.Column = h
	}
	var also []string
	used := false
	for _, n := range notes {
		if n.field == top && !used && top != "" {
			r.Message, used = n.msg, true
			continue
		}
		also = append(also, n.String())
	}
	if len(also) > 0 {
		r.Message += "; also " + strings.Join(also, "; ")
	}
	// The schema's messages may quote a value: mask what is shaped like an
	// ID or mobile number, as dead letters do, and bound the length.
	r.Message, _ = pii.ScrubText(r.Message)
	if len(r.Message) > maxMessage {
		r.Message = strings.ToValidUTF8(r.Message[:maxMessage], "") + "…"
	}
	return r
}

// maxMessage bounds a rejected row's message in the report.
const maxMessage = 1000

func (p *plan) headerOf(field string) string {
	for h, f := range p.columns {
		if f == field {
			return h
		}
	}
	return ""
}

// settle closes the page handed out last. When no outcome came (the runner
// could not produce it) the page is read again; rows the runner skipped as
// already dead-lettered count as rejected. The page's rejected rows and a
// checkpoint go to the journal.
func (s *Source) settle(root *os.Root) error {
	c := s.cur
	if c == nil || c.page == nil {
		return nil
	}
	if len(c.page) == c.pageSize && c.pageSize > 0 {
		if c.rows != nil {
			_ = c.rows.Close()
		}
		c.rows, c.eof, c.failed = nil, false, nil
		c.page, c.pageRejects, c.pageProduced, c.pageBlank, c.pageSize = nil, nil, 0, 0, 0
		return nil
	}
	for row := range c.page {
		c.pageRejects = append(c.pageRejects, Rejected{Row: row, Reason: "skipped",
			Message: "the runner skipped this row as already dead-lettered at the same position"})
	}
	sort.Slice(c.pageRejects, func(i, j int) bool { return c.pageRejects[i].Row < c.pageRejects[j].Row })
	next := c.prog
	next.Through = max(next.Through, c.pageLast)
	next.Rows += c.pageSize
	next.Produced += c.pageProduced
	next.Rejected += len(c.pageRejects)
	next.BlankRows += c.pageBlank
	lines := make([]journalLine, 0, len(c.pageRejects)+1)
	for i := range c.pageRejects {
		lines = append(lines, journalLine{Reject: &c.pageRejects[i]})
	}
	lines = append(lines, journalLine{Checkpoint: &next})
	if err := appendJournal(root, c.sha, lines); err != nil {
		return err
	}
	c.prog = next
	c.rejects = append(c.rejects, c.pageRejects...)
	c.page, c.pageRejects, c.pageProduced, c.pageBlank, c.pageSize = nil, nil, 0, 0, 0
	return nil
}

// read hands out up to a page of the current file's rows, opening it (and
// skipping what is settled) first when needed.
func (s *Source) read(root *os.Root) ([]connectors.Record, error) {
	c := s.cur
	if c.rows == nil && c.failed == nil && !c.eof {
		if err := s.open(root, c); err != nil {
			c.failed = err
		}
	}
	c.page = map[int][]note{}
	c.pageLast = c.prog.Through
	var recs []connectors.Record
	for c.rows != nil && !c.eof && c.failed == nil && len(recs) < s.cfg.PageSize {
		row, cells, err := c.rows.next()
		if errors.Is(err, io.EOF) {
			c.eof = true
			break
		}
		if err != nil {
			c.failed = err
			break
		}
		c.pageLast = row
		raw, notes, refused, blank := s.record(c, cells)
		if blank {
			c.pageBlank++
			continue
		}
		c.page[row] = notes
		c.pageSize++
		recs = append(recs, connectors.Record{
			Raw:      raw,
			Cursor:   c.cursorPrefix + strconv.Itoa(row) + "}",
			Position: c.positionPrefix + strconv.Itoa(row),
			Refused:  refused,
		})
	}
	if c.rows != nil && (c.eof || c.failed != nil) {
		_ = c.rows.Close()
		c.rows = nil
	}
	if len(recs) == 0 {
		return nil, s.settle(root) // blank rows only: nothing to wait for
	}
	return recs, nil
}

// record converts one row; blank reports a row with no mapped content. A
// mapped cell over max_cell_bytes refuses the row (too_large): its text is
// left out of the record, which keeps the row's other cells for the dead
// letter.
func (s *Source) record(c *current, cells []string) ([]byte, []note, error, bool) {
	if c.format == FormatNDJSON {
		raw, notes := s.plan.ndjson([]byte(cells[0]), c.mtime)
		return raw, notes, nil, false
	}
	var row []cell
	var refused error
	for i, text := range cells {
		if i >= len(c.fields) || c.fields[i] == "" {
			continue
		}
		t := cleanCell(text)
		if int64(len(t)) > s.cfg.MaxCellBytes {
			if refused == nil {
				refused = &schemas.RecordError{Reason: schemas.ReasonTooLarge, Field: c.fields[i],
					Msg: fmt.Sprintf("the cell in column %s holds %s, more than %s (limit max_cell_bytes); shorten it", colName(i), sizeText(int64(len(t))), sizeText(s.cfg.MaxCellBytes))}
			}
			t = fmt.Sprintf("[cut: %d bytes]", len(t))
		}
		if t != "" {
			row = append(row, cell{c.fields[i], t})
		}
	}
	if len(row) == 0 {
		return nil, nil, nil, true
	}
	raw, notes := s.plan.build(make(map[string]any, len(row)+4), row, c.mtime)
	return raw, notes, refused, false
}

// open opens the current file, reads its header and skips the settled
// rows.
func (s *Source) open(root *os.Root, c *current) error {
	f, err := root.Open(c.name)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	fi, err := f.Stat()
	if err != nil || fi.Size() != c.size || !fi.ModTime().Equal(c.mtime) {
		_ = f.Close()
		return errors.New("changed while it was being read; drop it again once it is complete")
	}
	switch c.format {
	case FormatXLSX:
		data, err := io.ReadAll(io.LimitReader(f, s.cfg.MaxFileBytes+1))
		_ = f.Close()
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != c.sha {
			return errors.New("changed while it was being read; drop it again once it is complete")
		}
		x, sheet, err := newXLSXRows(data, s.cfg.Sheet, s.cfg.MaxUnzippedBytes, s.cfg.MaxRowBytes)
		if err != nil {
			return err
		}
		c.rows, c.sheet = x, sheet
	case FormatCSV:
		c.rows = newCSVRows(f, c.enc, s.comma, s.cfg.MaxRowBytes, f)
	case FormatNDJSON:
		c.rows = newNDJSONRows(f, c.enc, s.cfg.MaxRowBytes, f)
	}
	if c.format != FormatNDJSON {
		if err := s.header(c); err != nil {
			_ = c.rows.Close()
			c.rows = nil
			return err
		}
	}
	if c.prog.Through == 0 {
		return nil
	}
	for {
		row, cells, err := c.rows.next()
		if errors.Is(err, io.EOF) {
			c.eof = true
			return nil
		}
		if err != nil {
			return err
		}
		if row > c.prog.Through {
			c.rows = &resumed{rowReader: c.rows, row: row, cells: cells, has: true}
			return nil
		}
	}
}

// resumed hands out a row read ahead while skipping settled rows.
type resumed struct {
	rowReader
	row   int
	cells []string
	has   bool
}

func (r *resumed) next() (int, []string, error) {
	if r.has {
		r.has = false
		return r.row, r.cells, nil
	}
	return r.rowReader.next()
}

// header reads the header row and maps its columns to fields.
func (s *Source) header(c *current) error {
	for {
		row, cells, err := c.rows.next()
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("has no header row (header_row: %d): the file ends before it", s.cfg.HeaderRow)
		}
		if err != nil {
			return err
		}
		if row < s.cfg.HeaderRow || blankRow(cells) {
			continue
		}
		return s.mapHeader(c, row, cells)
	}
}

func blankRow(cells []string) bool {
	for _, x := range cells {
		if cleanCell(x) != "" {
			return false
		}
	}
	return true
}

// mapHeader maps the header row's cells to fields. Its messages never
// quote a cell: a row taken as the header may be a data row (a file
// without the title row header_row expects) whose cells are an ID or a
// phone number. Ignored columns are listed masked (pii.ScrubText).
func (s *Source) mapHeader(c *current, row int, cells []string) error {
	c.fields = make([]string, len(cells))
	c.ignored = nil
	byField := map[string]int{}
	var problems []string
	known := 0
	for i, h := range cells {
		n := normHeader(h)
		if n == "" {
			continue
		}
		f, ok := s.plan.columns[n]
		if !ok {
			name, _ := pii.ScrubText(cleanCell(h))
			c.ignored = append(c.ignored, name)
			continue
		}
		known++
		if j, dup := byField[f]; dup {
			problems = append(problems, fmt.Sprintf("columns %s and %s of row %d both fill %s; keep one or rename the other", colName(j), colName(i), row, f))
			continue
		}
		byField[f] = i
		c.fields[i] = f
	}
	c.missing = nil
	lacking := 0
	for _, h := range sortedKeys(s.cfg.Columns) {
		f := s.cfg.Columns[h]
		if _, ok := byField[f]; ok {
			continue
		}
		col, _ := s.plan.schema.Column(f)
		filled := s.plan.defaults[f] != nil || f == s.plan.keyField && (s.plan.template != "" || s.plan.hash) || f == s.plan.version
		if !col.Nullable && !filled {
			problems = append(problems, fmt.Sprintf("the header row %d lacks the column %s (%s, required)", row, h, f))
			lacking++
		} else {
			c.missing = append(c.missing, h)
		}
	}
	if lacking > 0 {
		problems = append(problems, fmt.Sprintf("row %d has %d cells, %d of them a header of columns; check header_row (%d) against where the file's header is",
			row, len(nonEmpty(cells)), known, s.cfg.HeaderRow))
	}
	if len(problems) > 0 {
		c.ignored, c.missing = nil, nil
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

func nonEmpty(cells []string) []string {
	var out []string
	for _, x := range cells {
		if x = cleanCell(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}

// colName is a column's spreadsheet name: 0 → A, 26 → AA.
func colName(i int) string {
	s := ""
	for i++; i > 0; i = (i - 1) / 26 {
		s = string(rune('A'+(i-1)%26)) + s
	}
	return s
}
