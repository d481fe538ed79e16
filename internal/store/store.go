// Package store is yiwang's only adapter to DuckDB (and Arrow): it opens the
// database file, applies migrations at start, loads the reference tables,
// applies the loader's batches (upsert by natural key plus consumed offsets
// in one transaction) and answers read-only queries.
//
// One process owns the file: DuckDB lets no other process open it, even
// read-only, while this one runs. The package exports no metrics.
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	duckdb "github.com/duckdb/duckdb-go/v2"

	"github.com/yiwang-gov/yiwang/schemas"
)

// ErrInvalidated means DuckDB hit a fatal error (disk full, failed
// checkpoint) and refuses every further statement: close the store, fix the
// cause and reopen. Nothing of the failed batch was committed.
var ErrInvalidated = errors.New("database invalidated; restart after fixing the cause")

// ErrConflict means a transaction conflicted with another one; retrying the
// whole batch is safe.
var ErrConflict = errors.New("transaction conflict")

// DefaultCheckpointBytes is the WAL size at which a store checkpoints when
// its options name none. A checkpoint holds off every writer while it runs
// (DuckDB's checkpoint lock), and its length grows with the WAL: in `yiwang
// bench` (1.2 M grid events, two cores) one at 256 MiB stalled the loader's
// commits for 2.1 to 2.4 s, one at 48 MiB for 0.4 to 0.7 s, while a checkpoint
// every 48 MiB cost the loader about a tenth of its rate from a backlog and
// held 280 MiB less in memory. At 16 MB (DuckDB's own default) the fixed
// part of each checkpoint, the primary-key indexes written anew, took a fifth
// of the loader's time.
const DefaultCheckpointBytes = 48 << 20

// Options tune the database. The zero value is safe.
type Options struct {
	// Threads bounds DuckDB's worker threads (default: all cores).
	Threads int
	// MemoryBytes bounds DuckDB's buffer memory for the
	// whole process (default: half of the memory of the machine or of the
	// cgroup, whichever is less; see DefaultMemoryLimit). DuckDB has no
	// limit per connection or per query: this and the spill cap below are
	// what an admin query can take, and past them it fails with an
	// out-of-memory error instead of the kernel killing the process.
	MemoryBytes int64
	// TempDir is where DuckDB spills what does not fit in memory (default:
	// the database path + ".tmp", as DuckDB would choose).
	TempDir string
	// MaxTempBytes caps the spill files (default: a quarter of the space
	// free on TempDir's disk at Open, at most 32 GiB; see
	// DefaultMaxTempBytes). Negative turns spilling off.
	MaxTempBytes int64
	// CheckpointBytes is the WAL size at which DuckDB checkpoints (default
	// DefaultCheckpointBytes). Rows written since the last checkpoint are
	// held in memory, so this bounds that memory too; a smaller one costs
	// the loader more checkpoints (each rewrites the primary-key indexes).
	CheckpointBytes int64
	// CheckpointEvery, when set, also checkpoints once the WAL holds rows
	// written this long ago, so that a slow stream does not keep them in
	// memory until the WAL reaches CheckpointBytes.
	CheckpointEvery time.Duration
	// Log receives what the store does on its own (a checkpoint on time
	// that failed); default slog.Default().
	Log *slog.Logger
	// ReadOnly opens the file read-only (the CLI, when no server runs).
	ReadOnly bool
}

// Store is the open database.
type Store struct {
	db   *sql.DB
	path string

	admin    *sql.Conn     // admin queries' own connection
	adminSem chan struct{} // one admin query at a time

	def *Writer // for Apply

	fmu     sync.Mutex // guards filters
	filters map[string]*sharedFilter

	log      *slog.Logger
	stop     chan struct{} // closed by Close: ends the store's goroutines
	stopOnce sync.Once
	wg       sync.WaitGroup // the store's goroutines
}

// Open opens (or creates) the database file and applies the built-in
// migrations. External access (files, network, extension installs) is
// disabled for every connection: nothing in yiwang reads files through SQL.
func Open(ctx context.Context, path string, o Options) (*Store, error) {
	if o.ReadOnly {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
	} else if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("create database dir: %w", err)
	}
	dsn := path
	if o.ReadOnly {
		dsn += "?access_mode=READ_ONLY"
	}
	conn, err := duckdb.NewConnector(dsn, nil)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	db := sql.OpenDB(conn)
	s := &Store{db: db, path: path, filters: map[string]*sharedFilter{}, log: o.Log, stop: make(chan struct{})}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.def = s.NewWriter()
	checkpoint := o.CheckpointBytes
	if checkpoint <= 0 {
		checkpoint = DefaultCheckpointBytes
	}
	settings := []string{"SET autoinstall_known_extensions = false", "SET autoload_known_extensions = false",
		fmt.Sprintf("SET checkpoint_threshold = '%d bytes'", checkpoint)}
	if o.Threads > 0 {
		settings = append(settings, fmt.Sprintf("SET threads = %d", o.Threads))
	}
	memory := o.MemoryBytes
	if memory <= 0 {
		memory = DefaultMemoryLimit()
	}
	if memory > 0 {
		settings = append(settings, fmt.Sprintf("SET memory_limit = '%d bytes'", memory))
	}
	if o.MemoryBytes > 0 {
		// Memory DuckDB frees goes back to its allocator (jemalloc), which
		// keeps up to allocator_flush_threshold (128 MiB) of it after a
		// task, outside memory_limit. A limit set on purpose means the
		// process's memory matters: keep a sixteenth of it at most, and
		// let the allocator's background threads return the rest.
		settings = append(settings, fmt.Sprintf("SET allocator_flush_threshold = '%d bytes'", o.MemoryBytes/16),
			"SET allocator_background_threads = true")
	}
	temp := o.TempDir
	if temp == "" {
		temp = path + ".tmp"
	}
	switch maxTemp := o.MaxTempBytes; {
	case maxTemp < 0:
		settings = append(settings, "SET temp_directory = ''")
	default:
		if maxTemp == 0 {
			maxTemp = DefaultMaxTempBytes(temp)
		}
		settings = append(settings, fmt.Sprintf("SET temp_directory = '%s'", strings.ReplaceAll(temp, "'", "''")),
			fmt.Sprintf("SET max_temp_directory_size = '%d bytes'", maxTemp))
	}
	settings = append(settings, "SET enable_external_access = false", "SET lock_configuration = true")
	for _, q := range settings {
		if _, err := db.ExecContext(ctx, q); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("configure database (%s): %w", q, err)
		}
	}
	if s.admin, err = db.Conn(ctx); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("admin connection: %w", err)
	}
	s.adminSem = make(chan struct{}, 1)
	if !o.ReadOnly {
		if err := s.migrate(ctx); err != nil {
			_ = db.Close()
			return nil, err
		}
	}
	if o.MemoryBytes > 0 {
		s.wg.Add(1)
		go func() { defer s.wg.Done(); trimMalloc(time.Minute, s.stop) }() // until Close
	}
	if o.CheckpointEvery > 0 && !o.ReadOnly {
		s.wg.Add(1)
		go s.checkpointOnTime(&checkpointer{wal: path + ".wal", every: o.CheckpointEvery}) // until Close
	}
	return s, nil
}

// Memory returns the bytes DuckDB's buffer manager holds, by tag
// (duckdb_memory()): table blocks, hash tables, indexes... Memory its
// allocator keeps beside them (the appenders' chunks, freed blocks not yet
// returned) is not counted.
func (s *Store) Memory(ctx context.Context) (map[string]int64, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT tag, memory_usage_bytes FROM duckdb_memory()")
	if err != nil {
		return nil, fmt.Errorf("read duckdb_memory(): %w", err)
	}
	defer func() { _ = rows.Close() }()
	out := map[string]int64{}
	for rows.Next() {
		var tag string
		var n int64
		if err := rows.Scan(&tag, &n); err != nil {
			return nil, fmt.Errorf("read duckdb_memory(): %w", err)
		}
		out[tag] = n
	}
	return out, rows.Err()
}

// AllocatorMemory returns what the process's two C allocators hold, in
// bytes, under "<allocator>_<statistic>": glibc's malloc, from which
// DuckDB's C++ objects (catalog, plans, strings) come, and DuckDB's
// jemalloc, from which its Allocator takes the buffer pool and the chunks
// queries pass along. Memory counts only part of the second. The
// allocators are the process's, not one database's. Where jemalloc cannot
// be read (not Linux, no cgo) only glibc's are there, and err says why.
func AllocatorMemory() (map[string]int64, error) {
	out := map[string]int64{}
	glibcBytes(out)
	return out, jemallocBytes(out)
}

// DB returns the shared connection pool, for queries of other packages.
func (s *Store) DB() *sql.DB { return s.db }

// Path returns the database file.
func (s *Store) Path() string { return s.path }

// Close releases the loader and admin connections and closes the database.
func (s *Store) Close() error {
	s.stopOnce.Do(func() { close(s.stop) })
	s.wg.Wait()
	return errors.Join(s.def.Close(), s.admin.Close(), s.db.Close())
}

// MigrateSchemas creates the table of every record type and adds columns
// that a schema gained (additive, optional changes). Anything else that
// differs — a column type changed, a column gone — is refused: it needs a
// new major version with its own topic and table.
func (s *Store) MigrateSchemas(ctx context.Context, reg *schemas.Registry) error {
	plan, err := s.SchemaChanges(ctx, reg)
	if err != nil {
		return err
	}
	if len(plan.Refused) > 0 {
		return errors.Join(plan.Refused...)
	}
	for _, q := range plan.DDL {
		if _, err := s.db.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("migrate (%s): %w", q, err)
		}
	}
	return nil
}

// SchemaPlan is what the schemas would change in the database: DDL to run
// (new tables, added optional columns) and the changes refused.
type SchemaPlan struct {
	DDL     []string
	Refused []error
}

// SchemaChanges compares the schemas with the tables without changing
// anything; `yiwang check` shows its refusals with the way out.
func (s *Store) SchemaChanges(ctx context.Context, reg *schemas.Registry) (SchemaPlan, error) {
	var plan SchemaPlan
	refuse := func(format string, args ...any) { plan.Refused = append(plan.Refused, fmt.Errorf(format, args...)) }
	for _, sc := range reg.All() {
		existing, err := s.columns(ctx, sc.Table)
		if err != nil {
			return plan, err
		}
		if len(existing) == 0 {
			plan.DDL = append(plan.DDL, sc.CreateTable())
			continue
		}
		names := map[string]bool{}
		for _, c := range sc.TableColumns() {
			names[c.Name] = true
			typ, ok := existing[c.Name]
			switch {
			case !ok && !c.Nullable:
				refuse("%s: table %s: the schema adds required field %s; an added field must be optional (drop it from \"required\"), or make a new major version (yiwang.%s.v%d, its own topic and table)",
					sc.File, sc.Table, c.Name, sc.Name, sc.Major+1)
			case !ok:
				plan.DDL = append(plan.DDL, fmt.Sprintf("ALTER TABLE %s ADD COLUMN %s %s", sc.Table, c.Name, c.Type.SQL()))
			case typ != c.Type.SQL() && !(typ == "TIMESTAMP WITH TIME ZONE" && c.Type == schemas.Timestamp):
				refuse("%s: table %s: column %s is %s but the schema says %s; a type change needs a new major version (yiwang.%s.v%d)",
					sc.File, sc.Table, c.Name, typ, c.Type.SQL(), sc.Name, sc.Major+1)
			}
		}
		for n := range existing {
			if !names[n] {
				refuse("%s: table %s: column %s is no longer in the schema; removing a field needs a new major version (yiwang.%s.v%d); keep it, optional, until then",
					sc.File, sc.Table, n, sc.Name, sc.Major+1)
			}
		}
	}
	return plan, nil
}

func (s *Store) columns(ctx context.Context, table string) (map[string]string, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT column_name, data_type FROM duckdb_columns() WHERE schema_name = 'main' AND table_name = ?`, table)
	if err != nil {
		return nil, fmt.Errorf("read columns of %s: %w", table, err)
	}
	defer rows.Close()
	out := map[string]string{}
	for rows.Next() {
		var n, t string
		if err := rows.Scan(&n, &t); err != nil {
			return nil, fmt.Errorf("read columns of %s: %w", table, err)
		}
		out[n] = t
	}
	return out, rows.Err()
}

// Area is one row of the areas reference table.
type Area struct {
	Code, Name, Level, ParentCode string
}

// GovUnit is one node of the responsibility hierarchy (新区 → 开发区 → 乡街 →
// 社区 ...), which is not the statistical code tree.
type GovUnit struct {
	UnitID, UnitType, ParentID, AreaCode, Name string
}

// ReplaceReference replaces the areas and gov_units tables in one
// transaction.
func (s *Store) ReplaceReference(ctx context.Context, areas []Area, units []GovUnit) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	for _, q := range []string{"DELETE FROM areas", "DELETE FROM gov_units"} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("%s: %w", q, err)
		}
	}
	if err := insertMany(ctx, tx, "areas", 4, len(areas), func(i int) []any {
		a := areas[i]
		return []any{a.Code, a.Name, a.Level, nullable(a.ParentCode)}
	}); err != nil {
		return err
	}
	if err := insertMany(ctx, tx, "gov_units", 5, len(units), func(i int) []any {
		u := units[i]
		return []any{u.UnitID, u.UnitType, nullable(u.ParentID), nullable(u.AreaCode), u.Name}
	}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit reference tables: %w", err)
	}
	return nil
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func insertMany(ctx context.Context, tx *sql.Tx, table string, ncol, n int, row func(int) []any) error {
	const chunk = 500
	for start := 0; start < n; start += chunk {
		end := min(start+chunk, n)
		var b strings.Builder
		fmt.Fprintf(&b, "INSERT INTO %s VALUES ", table)
		args := make([]any, 0, (end-start)*ncol)
		for i := start; i < end; i++ {
			if i > start {
				b.WriteByte(',')
			}
			b.WriteByte('(')
			b.WriteString(strings.TrimSuffix(strings.Repeat("?,", ncol), ","))
			b.WriteByte(')')
			args = append(args, row(i)...)
		}
		if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
			return fmt.Errorf("insert into %s: %w", table, err)
		}
	}
	return nil
}

// CalendarDay is one row of the calendar table: the official working-day
// calendar in Asia/Shanghai, for SQL that counts working days and hours.
type CalendarDay struct {
	Date           time.Time // midnight UTC of the date
	Kind           string    // workday, weekend, holiday, makeup_workday
	IsWorkday      bool
	Holiday        string
	WorkingSeconds int
	Covered        bool // false where only the Monday–Friday rule was known
}

// SLA is one row of the category_sla table: the time limit (处置时限), in
// working hours, of a case of a platform's category at an urgency.
type SLA struct {
	Platform, Category, Urgency string
	WorkHours                   float64
}

// ReplaceSLA replaces the category_sla table in one transaction.
func (s *Store) ReplaceSLA(ctx context.Context, rows []SLA) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, "DELETE FROM category_sla"); err != nil {
		return fmt.Errorf("clear category_sla: %w", err)
	}
	if err := insertMany(ctx, tx, "category_sla", 4, len(rows), func(i int) []any {
		r := rows[i]
		return []any{r.Platform, r.Category, r.Urgency, r.WorkHours}
	}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit category_sla: %w", err)
	}
	return nil
}

// ReplaceCalendar replaces the calendar table in one transaction.
func (s *Store) ReplaceCalendar(ctx context.Context, days []CalendarDay) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer func() { _ = tx.Rollback() }()
	if _, err := tx.ExecContext(ctx, "DELETE FROM calendar"); err != nil {
		return fmt.Errorf("clear calendar: %w", err)
	}
	if err := insertMany(ctx, tx, "calendar", 6, len(days), func(i int) []any {
		d := days[i]
		return []any{d.Date, d.Kind, d.IsWorkday, nullable(d.Holiday), d.WorkingSeconds, d.Covered}
	}); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit calendar: %w", err)
	}
	return nil
}

// Offsets returns the next offset to consume per topic and partition, as
// committed with the loaded rows.
func (s *Store) Offsets(ctx context.Context) (map[string]map[int]int64, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT topic, partition, next_offset FROM load_offsets")
	if err != nil {
		return nil, fmt.Errorf("read load offsets: %w", err)
	}
	defer rows.Close()
	out := map[string]map[int]int64{}
	for rows.Next() {
		var t string
		var p int
		var o int64
		if err := rows.Scan(&t, &p, &o); err != nil {
			return nil, fmt.Errorf("read load offsets: %w", err)
		}
		if out[t] == nil {
			out[t] = map[int]int64{}
		}
		out[t][p] = o
	}
	return out, rows.Err()
}

// TableRows are deduplicated rows of one record type, each in the order of
// the schema's TableColumns. No key may appear twice.
type TableRows struct {
	Schema *schemas.Schema
	Rows   [][]any
}

// Batch is what the loader commits at once: rows and the next offset of
// every partition they came from.
type Batch struct {
	Tables []TableRows
	Next   map[string]map[int]int64
	// Safe routes every row through INSERT ... ON CONFLICT, for retrying a
	// batch that met a key conflict.
	Safe bool
}

// Apply applies the batch on the store's default writer; see Writer.Apply.
func (s *Store) Apply(ctx context.Context, b Batch) error { return s.def.Apply(ctx, b) }

// Writer is one loader connection. Each Apply is one transaction of its
// own, so several writers can load at once — appends never conflict in
// DuckDB — as long as each owns distinct partitions (and so, Kafka's key
// hashing being what it is, distinct keys). A Writer is not safe for
// concurrent use.
type Writer struct {
	s     *Store
	conn  *sql.Conn
	dconn driver.Conn
	apps  map[string]*upserter
}

// NewWriter returns a writer with its own connection, opened on first use.
func (s *Store) NewWriter() *Writer { return &Writer{s: s, apps: map[string]*upserter{}} }

// Close releases the writer's connection.
func (w *Writer) Close() error {
	w.closeAppenders()
	if w.conn == nil {
		return nil
	}
	err := w.conn.Close()
	w.conn = nil
	return err
}

// Apply upserts the batch's rows by natural key — a row whose version_field
// is older than the stored one is ignored — and records the offsets, all in
// one transaction. It returns ErrInvalidated (wrapped) when DuckDB can no
// longer write, and ErrConflict when the transaction may simply be retried
// (with Batch.Safe set, which cannot meet a key conflict of its own making).
func (w *Writer) Apply(ctx context.Context, b Batch) error {
	err := w.apply(ctx, b)
	switch {
	case err != nil:
		w.closeAppenders() // an appender that failed may hold half a chunk
		if w.conn != nil {
			_, _ = w.conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		}
	case b.rows() < keepAppendersRows:
		// An appender holds a chunk of 2,048 rows of every column (16
		// or 32 KiB a column), two per table on each writer: about
		// 55 MiB of C memory in the demo. They pay for themselves over
		// the large batches of a backlog; a trickle of records makes
		// them anew.
		w.closeAppenders()
	}
	return classify(err)
}

// keepAppendersRows is the smallest batch after which a writer keeps its
// appenders for the next.
const keepAppendersRows = 2048

func (b Batch) rows() int {
	n := 0
	for _, t := range b.Tables {
		n += len(t.Rows)
	}
	return n
}

func (w *Writer) apply(ctx context.Context, b Batch) error {
	if w.conn == nil {
		c, err := w.s.db.Conn(ctx)
		if err != nil {
			return fmt.Errorf("loader connection: %w", err)
		}
		if err := c.Raw(func(x any) error { w.dconn = x.(driver.Conn); return nil }); err != nil {
			_ = c.Close()
			return fmt.Errorf("loader connection: %w", err)
		}
		w.conn = c
	}
	if _, err := w.conn.ExecContext(ctx, "BEGIN TRANSACTION"); err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	for _, t := range b.Tables {
		if len(t.Rows) == 0 {
			continue
		}
		if err := w.upsert(ctx, t.Schema, t.Rows, b.Safe); err != nil {
			return err
		}
	}
	if err := w.writeOffsets(ctx, b.Next); err != nil {
		return err
	}
	if _, err := w.conn.ExecContext(ctx, "COMMIT"); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

func toDriver(r []any) []driver.Value {
	out := make([]driver.Value, len(r))
	for i, v := range r {
		out[i] = v
	}
	return out
}

func (w *Writer) writeOffsets(ctx context.Context, next map[string]map[int]int64) error {
	var b strings.Builder
	var args []any
	now := time.Now().UTC()
	for t, ps := range next {
		for p, o := range ps {
			if len(args) > 0 {
				b.WriteByte(',')
			}
			b.WriteString("(?,?,?,?)")
			args = append(args, t, p, o, now)
		}
	}
	if len(args) == 0 {
		return nil
	}
	q := "INSERT INTO load_offsets VALUES " + b.String() +
		" ON CONFLICT (topic, partition) DO UPDATE SET next_offset = excluded.next_offset, loaded_at = excluded.loaded_at"
	if _, err := w.conn.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("record offsets: %w", err)
	}
	return nil
}

// upserter writes a table's rows inside the open transaction, in two
// streams. A Bloom filter of the table's keys (built from the table on first
// use, then fed every key written) tells which keys are certainly new: those
// rows are appended straight into the table at the appender's speed. The
// others — updates, and the filter's ~1% false positives — go through an
// appender whose flush runs INSERT ... ON CONFLICT DO UPDATE ... WHERE the
// stored version is not newer, which finds each key through the primary-key
// index. Neither stream scans the table, so a batch costs the same at ten
// million rows as at ten thousand (a join against the table did not:
// BenchmarkStoreApply).
type upserter struct {
	keyIdx         []int // positions of the key columns in a row
	direct, upsert *duckdb.Appender
	filter         *sharedFilter
	keySQL         string // selects every stored key, to build the filter
	table          string
}

// sharedFilter is a table's key filter, shared by the writers.
type sharedFilter struct {
	mu sync.Mutex
	f  *keyFilter // nil until built
}

func (w *Writer) appender(ctx context.Context, sc *schemas.Schema) (*upserter, error) {
	if a, ok := w.apps[sc.Table]; ok {
		return a, nil
	}
	var set []string
	isKey := map[string]bool{}
	for _, k := range sc.Key {
		isKey[k] = true
	}
	u := &upserter{table: sc.Table}
	for _, c := range sc.TableColumns() {
		if !isKey[c.Name] {
			set = append(set, fmt.Sprintf("%s = excluded.%s", c.Name, c.Name))
		}
	}
	for _, k := range sc.Key {
		for i, c := range sc.TableColumns() {
			if c.Name == k {
				u.keyIdx = append(u.keyIdx, i)
			}
		}
	}
	u.keySQL = fmt.Sprintf("SELECT %s FROM %s", strings.Join(sc.Key, ", "), sc.Table)
	q := fmt.Sprintf("INSERT INTO %s SELECT * FROM appended_data ON CONFLICT (%s) DO UPDATE SET %s WHERE excluded.%s >= %s.%s",
		sc.Table, strings.Join(sc.Key, ", "), strings.Join(set, ", "), sc.VersionField, sc.Table, sc.VersionField)
	var err error
	if u.upsert, err = duckdb.NewTableAppender(w.dconn, q, "", "", sc.Table, nil); err == nil {
		u.direct, err = duckdb.NewAppenderFromConn(w.dconn, "", sc.Table)
	}
	if err != nil {
		u.close()
		return nil, fmt.Errorf("create appenders for %s: %w", sc.Table, err)
	}
	w.s.fmu.Lock()
	u.filter = w.s.filters[sc.Table]
	if u.filter == nil {
		u.filter = &sharedFilter{}
		w.s.filters[sc.Table] = u.filter
	}
	w.s.fmu.Unlock()
	w.apps[sc.Table] = u
	return u, nil
}

// buildFilter reads every stored key into a filter sized for twice as
// many. The caller holds u.filter.mu. Keys another writer appended in a
// transaction not yet committed are missed; should one come again, its
// direct append conflicts and the batch is retried in safe mode.
func (w *Writer) buildFilter(ctx context.Context, u *upserter) error {
	var n int
	if err := w.conn.QueryRowContext(ctx, "SELECT count(*) FROM "+u.table).Scan(&n); err != nil {
		return fmt.Errorf("count keys of %s: %w", u.table, err)
	}
	// At least 64Ki keys (80 KiB): a table's filter is rebuilt, twice as
	// large, when it fills, so a small table does not hold a large one.
	f := newKeyFilter(max(2*n, 1<<16))
	rows, err := w.conn.QueryContext(ctx, u.keySQL)
	if err != nil {
		return fmt.Errorf("read keys of %s: %w", u.table, err)
	}
	defer func() { _ = rows.Close() }()
	vals := make([]any, len(u.keyIdx))
	ptrs := make([]any, len(vals))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return fmt.Errorf("read keys of %s: %w", u.table, err)
		}
		f.add(joinKey(vals))
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read keys of %s: %w", u.table, err)
	}
	u.filter.f = f
	return nil
}

func (u *upserter) close() {
	for _, a := range []*duckdb.Appender{u.direct, u.upsert} {
		if a != nil {
			_ = a.Close() // after a commit nothing is buffered; after a failure, rows of a batch about to roll back
		}
	}
}

func (u *upserter) keyOf(row []any) string {
	if len(u.keyIdx) == 1 {
		if s, ok := row[u.keyIdx[0]].(string); ok {
			return s
		}
	}
	vals := make([]any, len(u.keyIdx))
	for i, k := range u.keyIdx {
		vals[i] = row[k]
	}
	return joinKey(vals)
}

func joinKey(vals []any) string {
	if len(vals) == 1 {
		if s, ok := vals[0].(string); ok {
			return s
		}
	}
	var b strings.Builder
	for i, v := range vals {
		if i > 0 {
			b.WriteByte(0x1f)
		}
		if t, ok := v.(time.Time); ok {
			v = t.UTC()
		}
		fmt.Fprint(&b, v)
	}
	return b.String()
}

// upsert writes rows (no key twice) inside the open transaction. In safe
// mode every row takes the conflict-checked path.
func (w *Writer) upsert(ctx context.Context, sc *schemas.Schema, rows [][]any, safe bool) error {
	u, err := w.appender(ctx, sc)
	if err != nil {
		return err
	}
	// Route rows under the filter's lock; append outside it, so that
	// writers append in parallel.
	direct := make([]bool, len(rows))
	u.filter.mu.Lock()
	if u.filter.f == nil || u.filter.f.full() {
		if err := w.buildFilter(ctx, u); err != nil {
			u.filter.mu.Unlock()
			return err
		}
	}
	f := u.filter.f
	for i, r := range rows {
		k := u.keyOf(r)
		if !f.mayContain(k) {
			// Added before the commit: should the batch roll back, the
			// filter only errs on the safe side (a false positive).
			f.add(k)
			direct[i] = !safe
		}
	}
	u.filter.mu.Unlock()
	upserts := 0
	for i, r := range rows {
		a := u.direct
		if !direct[i] {
			a, upserts = u.upsert, upserts+1
		}
		if err := a.AppendRow(toDriver(r)...); err != nil {
			return fmt.Errorf("append to %s: %w", sc.Table, err)
		}
	}
	if err := u.direct.Flush(); err != nil {
		return fmt.Errorf("insert into %s: %w", sc.Table, err)
	}
	if upserts > 0 {
		if err := u.upsert.Flush(); err != nil {
			return fmt.Errorf("upsert into %s: %w", sc.Table, err)
		}
	}
	return nil
}

// keyFilter is a Bloom filter of keys: no false negatives, about 1% false
// positives at capacity (10 bits and 7 probes per key).
type keyFilter struct {
	bits     []uint64
	n, limit int
	seed     maphash.Seed
}

func newKeyFilter(capacity int) *keyFilter {
	m := uint64(capacity) * 10
	return &keyFilter{bits: make([]uint64, (m+63)/64), limit: capacity, seed: maphash.MakeSeed()}
}

func (f *keyFilter) probes(key string) (uint64, uint64) {
	h := maphash.String(f.seed, key)
	return h, h>>32 | h<<32 | 1
}

func (f *keyFilter) add(key string) {
	h1, h2 := f.probes(key)
	m := uint64(len(f.bits)) * 64
	for i := uint64(0); i < 7; i++ {
		b := (h1 + i*h2) % m
		f.bits[b/64] |= 1 << (b % 64)
	}
	f.n++
}

func (f *keyFilter) mayContain(key string) bool {
	h1, h2 := f.probes(key)
	m := uint64(len(f.bits)) * 64
	for i := uint64(0); i < 7; i++ {
		b := (h1 + i*h2) % m
		if f.bits[b/64]&(1<<(b%64)) == 0 {
			return false
		}
	}
	return true
}

// full reports that the filter holds more keys than it was sized for; it is
// then rebuilt, twice as large, from the table.
func (f *keyFilter) full() bool { return f.n > f.limit }

func (w *Writer) closeAppenders() {
	for n, u := range w.apps {
		u.close()
		delete(w.apps, n)
	}
}

func classify(err error) error {
	if err == nil {
		return nil
	}
	var de *duckdb.Error
	if errors.As(err, &de) {
		switch {
		case de.Type == duckdb.ErrorTypeFatal || strings.Contains(de.Msg, "invalidated"):
			return fmt.Errorf("%w: %w", ErrInvalidated, err)
		case de.Type == duckdb.ErrorTypeTransaction, de.Type == duckdb.ErrorTypeConstraint,
			// The appender reports a duplicate key without an error type.
			strings.Contains(de.Msg, "violates primary key constraint"):
			// Another writer's transaction, or a direct append of a key
			// stored meanwhile: a retry in safe mode resolves both.
			return fmt.Errorf("%w: %w", ErrConflict, err)
		}
	}
	if strings.Contains(err.Error(), "database has been invalidated") {
		return fmt.Errorf("%w: %w", ErrInvalidated, err)
	}
	return err
}

// AppendRaw appends rows to the record type's table with a plain appender:
// no deduplication, no upsert, no offsets. It is the benchmark's limit for
// DuckDB, not a loading path.
func (s *Store) AppendRaw(ctx context.Context, sc *schemas.Schema, rows [][]any) error {
	c, err := s.db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("connection: %w", err)
	}
	defer func() { _ = c.Close() }()
	return c.Raw(func(x any) error {
		a, err := duckdb.NewAppenderFromConn(x.(driver.Conn), "", sc.Table)
		if err != nil {
			return fmt.Errorf("appender for %s: %w", sc.Table, err)
		}
		for _, r := range rows {
			if err := a.AppendRow(toDriver(r)...); err != nil {
				_ = a.Close()
				return fmt.Errorf("append to %s: %w", sc.Table, err)
			}
		}
		return a.Close()
	})
}

// DigestSQL is the query of a table's digest: its rows and an
// order-independent sum of their hashes, the same for the same rows in any
// database (yiwang rebuild prints it; yiwang sql runs it on the live one).
func DigestSQL(table string) string {
	return fmt.Sprintf(`SELECT count(*), coalesce(sum(hash(t)::HUGEINT), 0)::VARCHAR FROM %q t`, table)
}

// Digest returns table's rows and the hash sum of DigestSQL.
func (s *Store) Digest(ctx context.Context, table string) (rows int64, sum string, err error) {
	err = s.db.QueryRowContext(ctx, DigestSQL(table)).Scan(&rows, &sum)
	if err != nil {
		err = fmt.Errorf("digest of %s: %w", table, err)
	}
	return rows, sum, err
}
