package queries

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/yiwang-gov/yiwang/internal/calendar"
	"github.com/yiwang-gov/yiwang/internal/diag"
	"github.com/yiwang-gov/yiwang/internal/reference"
	"github.com/yiwang-gov/yiwang/internal/store"
	"github.com/yiwang-gov/yiwang/schemas"
)

// A query test file, <name>_test.yaml beside <name>.sql, holds cases for
// the query <name>:
//
//	tests:
//	  - name: households visited in the first half of 2026
//	    period: 2026-01-01              # first day of the period (Asia/Shanghai)
//	    now: 2026-03-01T12:00:00+08:00  # optional; default: the period's end
//	    areas: [...]                    # optional: {code, name, level, parent_code}
//	    gov_units: [...]                # optional: {unit_id, unit_type, parent_id, area_code, name}
//	    category_sla: [...]             # optional: {platform, category, urgency, work_hours}
//	    tables:
//	      households:
//	        - {household_id: H1, grid_code: "220173002001001"}
//	    expect:
//	      - {area: "220173002001001", numerator: 1, denominator: 3, value: null, suppressed: true}
//
// Each case runs on empty tables: its rows only, with the columns that
// matter; a required column left out gets a dummy (a key column
// "<table>-<row>", the area column the first grid, text "test", numbers 0,
// false, 2000-01-01). Timestamps are RFC 3339 with an offset. Without areas
// and gov_units the case uses TestHierarchy; without category_sla the
// time-limit table is empty. The query runs for the one
// period, and each expected cell (area "district" for the district; level
// optional) must match: numerator and denominator, value (null when there
// is none) and suppressed (default false). Cells not listed are not
// checked. Expectations are computed by hand, never copied from a run.

// TestHierarchy is the areas and gov units a query test uses unless it
// gives its own: two counties, three streets, four communities, five
// grids, and a responsibility tree of 新区 → three 开发区 → the streets,
// with one community unit under its street's unit.
func TestHierarchy() ([]store.Area, []store.GovUnit) {
	return []store.Area{
			{Code: "220173", Name: "长春高新技术产业开发区", Level: "county", ParentCode: "2201"},
			{Code: "220173002", Name: "北湖街道", Level: "street", ParentCode: "220173"},
			{Code: "220173002001", Name: "北湖一社区", Level: "community", ParentCode: "220173002"},
			{Code: "220173002001001", Name: "北湖一社区第1网格", Level: "grid", ParentCode: "220173002001"},
			{Code: "220173002001002", Name: "北湖一社区第2网格", Level: "grid", ParentCode: "220173002001"},
			{Code: "220173002002", Name: "北湖二社区", Level: "community", ParentCode: "220173002"},
			{Code: "220173002002001", Name: "北湖二社区第1网格", Level: "grid", ParentCode: "220173002002"},
			{Code: "220173003", Name: "超越街道", Level: "street", ParentCode: "220173"},
			{Code: "220173003001", Name: "超越一社区", Level: "community", ParentCode: "220173003"},
			{Code: "220173003001001", Name: "超越一社区第1网格", Level: "grid", ParentCode: "220173003001"},
			{Code: "220103", Name: "宽城区", Level: "county", ParentCode: "2201"},
			{Code: "220103011", Name: "长德街道", Level: "street", ParentCode: "220103"},
			{Code: "220103011001", Name: "长德一社区", Level: "community", ParentCode: "220103011"},
			{Code: "220103011001001", Name: "长德一社区第1网格", Level: "grid", ParentCode: "220103011001"},
		}, []store.GovUnit{
			{UnitID: "ccna", UnitType: "new_area", Name: "长春新区"},
			{UnitID: "ccna-bh", UnitType: "dev_zone", ParentID: "ccna", Name: "北湖科技开发区"},
			{UnitID: "ccna-gx", UnitType: "dev_zone", ParentID: "ccna", Name: "长春高新技术产业开发区"},
			{UnitID: "ccna-cd", UnitType: "dev_zone", ParentID: "ccna", Name: "长德经济开发区"},
			{UnitID: "st-220173002", UnitType: "street", ParentID: "ccna-bh", AreaCode: "220173002", Name: "北湖街道"},
			{UnitID: "st-220173003", UnitType: "street", ParentID: "ccna-gx", AreaCode: "220173003", Name: "超越街道"},
			{UnitID: "st-220103011", UnitType: "street", ParentID: "ccna-cd", AreaCode: "220103011", Name: "长德街道"},
			{UnitID: "cm-220173002001", UnitType: "community", ParentID: "st-220173002", AreaCode: "220173002001", Name: "北湖一社区"},
		}
}

// TestResult is the outcome of one case of a query test file.
type TestResult struct {
	File  string // the test file
	Line  int    // where the case starts
	Query string
	Case  string
	// Failures says what differed, one line each; empty if the case passed.
	Failures []string
}

// Passed reports whether the case passed.
func (r TestResult) Passed() bool { return len(r.Failures) == 0 }

// String reports the case as "ok file:line: name", or FAIL with its
// failures indented below.
func (r TestResult) String() string {
	if r.Passed() {
		return fmt.Sprintf("ok   %s:%d: %s", r.File, r.Line, r.Case)
	}
	return fmt.Sprintf("FAIL %s:%d: %s\n    %s", r.File, r.Line, r.Case, strings.Join(r.Failures, "\n    "))
}

// testCase is one parsed case.
type testCase struct {
	name   string
	line   int
	start  time.Time
	now    *time.Time
	areas  []store.Area
	units  []store.GovUnit
	hasRef bool
	sla    []store.SLA
	tables []testTable
	expect []expectCell
	flags  []expectFlag // a rule's: every subject it must flag, and no other
	// detected are an indicator's expected anomalies in the case's
	// period (rule: the detector), when hasDetected; from is where the
	// run starts, so that the detectors have history.
	detected    []expectFlag
	hasDetected bool
	from        *time.Time
	modes       []string // areas switched to emergency for the case
	file        string
}

// expectFlag is a subject a rule's case must flag.
type expectFlag struct {
	rule               string // a detector's, for an indicator's anomalies
	subject, area      string
	observed, expected *float64
	records            []string
	line               int
}

type testTable struct {
	sc   *schemas.Schema
	cols [][]string // per row, the columns given
	rows [][]any    // per row, the values of cols
}

type expectCell struct {
	area, level            string
	numerator, denominator float64
	value                  *float64
	suppressed             bool
	line                   int
}

// TestFiles runs the query tests in the dirs of fsys: every <name>_test.yaml
// against the catalog's query <name>, each case on a scratch DuckDB (with
// the tables of the catalog's record types, the official calendar and the
// case's reference data). Every query of the catalog must have a test
// file. Problems of the files themselves (and SQL that DuckDB refuses) are
// returned as Problems; the cases' outcomes as results, in file order.
func TestFiles(ctx context.Context, c *Catalog, fsys fs.FS, dirs ...string) (results []TestResult, err error) {
	var files []string
	for _, dir := range dirs {
		found, err := fs.Glob(fsys, path.Join(dir, "*_test.yaml"))
		if err != nil {
			return nil, fmt.Errorf("list query tests in %s: %w", dir, err)
		}
		slices.Sort(found)
		files = append(files, found...)
	}
	var probs Problems
	type fileCases struct {
		q     *Query
		file  string
		cases []testCase
	}
	var all []fileCases
	tested := map[string]bool{}
	for _, f := range files {
		name := strings.TrimSuffix(path.Base(f), "_test.yaml")
		q, ok := c.Get(name)
		if !ok {
			probs = append(probs, Problem{File: f, Msg: fmt.Sprintf("no query %s in the catalog; name a test file after its query, <name>_test.yaml", name)})
			continue
		}
		tested[name] = true
		raw, err := fs.ReadFile(fsys, f)
		if err != nil {
			return nil, fmt.Errorf("read query test %s: %w", f, err)
		}
		cases, ps := parseTestFile(f, raw, q, c.reg)
		probs = append(probs, ps...)
		all = append(all, fileCases{q, f, cases})
	}
	for _, q := range c.queries {
		if !tested[q.Name] {
			probs = append(probs, Problem{File: q.File, Msg: fmt.Sprintf("no test file; add %s_test.yaml beside it with hand-computed cases", q.Name)})
		}
	}
	if len(probs) > 0 {
		return nil, probs.Sorted()
	}
	scratch, err := os.MkdirTemp("", "yiwang-querytest-")
	if err != nil {
		return nil, fmt.Errorf("scratch database: %w", err)
	}
	defer func() { err = joinErr(err, os.RemoveAll(scratch)) }()
	st, err := scratchStore(ctx, scratch, c.reg)
	if err != nil {
		return nil, err
	}
	defer func() { err = joinErr(err, st.Close()) }()
	if err := loadCalendar(ctx, st); err != nil {
		return nil, err
	}
	if err := c.Check(ctx, st.DB()); err != nil {
		return nil, err
	}
	for _, fc := range all {
		for _, tc := range fc.cases {
			r, err := runCase(ctx, st, c.reg, fc.q, tc)
			if err != nil {
				return results, err
			}
			results = append(results, r)
		}
	}
	return results, nil
}

// loadCalendar writes the official calendar to the calendar table.
func loadCalendar(ctx context.Context, st *store.Store) error {
	cal, err := calendar.Official()
	if err != nil {
		return err
	}
	return reference.WriteCalendar(ctx, st, cal)
}

func runCase(ctx context.Context, st *store.Store, reg *schemas.Registry, q *Query, tc testCase) (TestResult, error) {
	res := TestResult{File: tc.file, Line: tc.line, Query: q.Name, Case: tc.name}
	db := st.DB()
	tables := []string{"indicator_values", "anomalies", "anomaly_records", "anomaly_changes", "area_modes"}
	for _, sc := range reg.All() {
		tables = append(tables, sc.Table)
	}
	for _, t := range tables {
		if _, err := db.ExecContext(ctx, "DELETE FROM "+t); err != nil {
			return res, fmt.Errorf("clear %s: %w", t, err)
		}
	}
	areas, units := TestHierarchy()
	if tc.hasRef {
		areas, units = tc.areas, tc.units
	}
	if err := st.ReplaceReference(ctx, areas, units); err != nil {
		return res, err
	}
	if err := st.ReplaceSLA(ctx, tc.sla); err != nil {
		return res, err
	}
	for _, t := range tc.tables {
		for i, cols := range t.cols {
			ph := make([]string, len(cols))
			for j, col := range cols {
				c, _ := tableColumn(t.sc, col)
				ph[j] = "CAST(? AS " + c.Type.SQL() + ")"
			}
			stmt := fmt.Sprintf("INSERT INTO %s (%s) VALUES (%s)", t.sc.Table, strings.Join(cols, ", "), strings.Join(ph, ", "))
			if _, err := db.ExecContext(ctx, stmt, t.rows[i]...); err != nil {
				res.Failures = append(res.Failures, fmt.Sprintf("insert row %d into %s: %s", i+1, t.sc.Table, oneLine(err.Error())))
				return res, nil
			}
		}
	}
	for _, code := range tc.modes {
		if _, err := db.ExecContext(ctx, `INSERT INTO area_modes VALUES (?, 'emergency', now(), 'test')`, code); err != nil {
			return res, fmt.Errorf("switch %s to emergency: %w", code, err)
		}
	}
	end := q.Period.Next(tc.start)
	now := end
	if tc.now != nil {
		now = *tc.now
	}
	from := tc.start
	if tc.from != nil {
		from = *tc.from
	}
	if _, err := Run(ctx, db, q, from, end, "test", now); err != nil {
		res.Failures = append(res.Failures, err.Error())
		return res, nil
	}
	if q.Kind == KindRule {
		fails, err := checkFlags(ctx, db, q.Name, tc.start, tc.flags)
		res.Failures = append(res.Failures, fails...)
		return res, err
	}
	if tc.hasDetected {
		for _, det := range q.Detect {
			var want []expectFlag
			for _, f := range tc.detected {
				if f.rule == det.Rule {
					want = append(want, f)
				}
			}
			fails, err := checkFlags(ctx, db, AnomalyRule(q.Name, det.Rule), tc.start, want)
			if err != nil {
				return res, err
			}
			res.Failures = append(res.Failures, fails...)
		}
	}
	got := map[cell]storedCell{}
	stored, err := latestStored(ctx, db, q.Name, tc.start, end)
	if err != nil {
		return res, err
	}
	for _, cells := range stored {
		for c, s := range cells {
			got[c] = s
		}
	}
	for _, e := range tc.expect {
		c := cell{Level(e.level), e.area}
		s, ok := got[c]
		if !ok {
			res.Failures = append(res.Failures, fmt.Sprintf("line %d: no %s cell for %s; is the level in the query's grain?", e.line, e.level, e.area))
			continue
		}
		var diffs []string
		if !near(s.numerator, e.numerator) {
			diffs = append(diffs, fmt.Sprintf("numerator %s, want %g", fmtNull(s.numerator), e.numerator))
		}
		if !near(s.denominator, e.denominator) {
			diffs = append(diffs, fmt.Sprintf("denominator %s, want %g", fmtNull(s.denominator), e.denominator))
		}
		switch {
		case e.value == nil && s.value.Valid:
			diffs = append(diffs, fmt.Sprintf("value %g, want null", s.value.Float64))
		case e.value != nil && !near(s.value, *e.value):
			diffs = append(diffs, fmt.Sprintf("value %s, want %g", fmtNull(s.value), *e.value))
		}
		if s.suppressed != e.suppressed {
			diffs = append(diffs, fmt.Sprintf("suppressed %t, want %t", s.suppressed, e.suppressed))
		}
		if len(diffs) > 0 {
			res.Failures = append(res.Failures, fmt.Sprintf("line %d: %s %s: %s", e.line, e.level, e.area, strings.Join(diffs, "; ")))
		}
	}
	return res, nil
}

// checkFlags compares the open anomalies of rule a case left in the
// period starting at start with the subjects it expects.
func checkFlags(ctx context.Context, db *sql.DB, rule string, start time.Time, flags []expectFlag) ([]string, error) {
	rows, err := db.QueryContext(ctx, `SELECT a.subject, a.area_code, a.observed, a.expected,
  coalesce(list_sort(list(r.record_id) FILTER (WHERE r.record_id IS NOT NULL)), [])
FROM anomalies a LEFT JOIN anomaly_records r ON r.anomaly_id = a.id
WHERE a.rule = ? AND a.period_start = ? AND a.status = 'open' GROUP BY ALL`, rule, start)
	if err != nil {
		return nil, fmt.Errorf("read the anomalies: %w", err)
	}
	defer func() { _ = rows.Close() }()
	type got struct {
		area               string
		observed, expected sql.NullFloat64
		records            []string
	}
	flagged := map[string]got{}
	for rows.Next() {
		var subject string
		var g got
		var recs []any
		if err := rows.Scan(&subject, &g.area, &g.observed, &g.expected, &recs); err != nil {
			return nil, fmt.Errorf("read the anomalies: %w", err)
		}
		for _, r := range recs {
			g.records = append(g.records, fmt.Sprint(r))
		}
		flagged[subject] = g
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read the anomalies: %w", err)
	}
	var fails []string
	for _, e := range flags {
		g, ok := flagged[e.subject]
		if !ok {
			fails = append(fails, fmt.Sprintf("line %d: %s is not flagged by %s", e.line, e.subject, rule))
			continue
		}
		delete(flagged, e.subject)
		var diffs []string
		if g.area != e.area {
			diffs = append(diffs, fmt.Sprintf("area %s, want %s", g.area, e.area))
		}
		if e.observed != nil && !near(g.observed, *e.observed) {
			diffs = append(diffs, fmt.Sprintf("observed %s, want %g", fmtNull(g.observed), *e.observed))
		}
		if e.expected != nil && !near(g.expected, *e.expected) {
			diffs = append(diffs, fmt.Sprintf("expected %s, want %g", fmtNull(g.expected), *e.expected))
		}
		if e.records != nil && !slices.Equal(g.records, slices.Sorted(slices.Values(e.records))) {
			diffs = append(diffs, fmt.Sprintf("records %v, want %v", g.records, slices.Sorted(slices.Values(e.records))))
		}
		if len(diffs) > 0 {
			fails = append(fails, fmt.Sprintf("line %d: %s: %s", e.line, e.subject, strings.Join(diffs, "; ")))
		}
	}
	for _, subject := range slices.Sorted(maps.Keys(flagged)) {
		fails = append(fails, fmt.Sprintf("%s is flagged by %s, and the case expects no such subject", subject, rule))
	}
	return fails, nil
}

func fmtNull(f sql.NullFloat64) string {
	if !f.Valid {
		return "null"
	}
	return strconv.FormatFloat(f.Float64, 'g', -1, 64)
}

func tableColumn(sc *schemas.Schema, name string) (schemas.Column, bool) {
	for _, c := range sc.TableColumns() {
		if c.Name == name {
			return c, true
		}
	}
	return schemas.Column{}, false
}

// parseTestFile decodes a test file strictly, reporting every problem.
func parseTestFile(file string, raw []byte, q *Query, reg *schemas.Registry) ([]testCase, Problems) {
	root, probs := diag.ParseYAML(file, string(raw), 1)
	if len(probs) > 0 {
		return nil, probs
	}
	if root == nil {
		return nil, Problems{{File: file, Line: 1, Msg: "the file is empty; write tests: with at least one case"}}
	}
	d := &decoder{file: file}
	m := d.mapping(root, "", "tests")
	if m == nil {
		return nil, d.probs
	}
	d.require(root, m, "", "tests")
	items, _ := d.list(m["tests"], "tests")
	if m["tests"] != nil && len(items) == 0 && len(d.probs) == 0 {
		d.bad(m["tests"], "tests", "is empty; add at least one case")
	}
	var cases []testCase
	names := map[string]int{}
	for i, it := range items {
		p := fmt.Sprintf("tests[%d]", i)
		tc, ok := decodeCase(d, it, p, q, reg)
		if !ok {
			continue
		}
		tc.file = file
		if first, dup := names[tc.name]; dup {
			d.bad(it, p+".name", "%q is also the name of the case on line %d; give each case its own name", tc.name, first)
			continue
		}
		names[tc.name] = tc.line
		cases = append(cases, tc)
	}
	return cases, d.probs
}

func decodeCase(d *decoder, n *yaml.Node, p string, q *Query, reg *schemas.Registry) (testCase, bool) {
	before := len(d.probs)
	tc := testCase{line: n.Line}
	m := d.mapping(n, p, "name", "period", "now", "areas", "gov_units", "category_sla", "tables", "expect", "emergency", "from", "anomalies")
	if m == nil {
		return tc, false
	}
	d.require(n, m, p, "name", "period", "expect")
	if v, ok := m["emergency"]; ok {
		items, _ := d.list(v, p+".emergency")
		for i, it := range items {
			if c, ok := d.scalarText(it, fmt.Sprintf("%s.emergency[%d]", p, i)); ok {
				tc.modes = append(tc.modes, c)
			}
		}
	}
	if v, ok := m["name"]; ok {
		tc.name, _ = d.text(v, p+".name")
	}
	loc := calendar.Zone
	if v, ok := m["period"]; ok {
		if s, ok := d.scalarText(v, p+".period"); ok {
			date, err := time.ParseInLocation("2006-01-02", s, loc)
			switch {
			case err != nil:
				d.bad(v, p+".period", "%q is not a date; give the period's first day as YYYY-MM-DD (Asia/Shanghai)", s)
			case !q.Period.Start(date, loc).Equal(date):
				d.bad(v, p+".period", "%s does not start a %s period; use %s", s, q.Period, q.Period.Start(date, loc).Format("2006-01-02"))
			default:
				tc.start = date
			}
		}
	}
	if v, ok := m["now"]; ok {
		if t, ok := d.instant(v, p+".now"); ok {
			tc.now = &t
		}
	}
	if v, ok := m["from"]; ok {
		if s, ok := d.scalarText(v, p+".from"); ok {
			date, err := time.ParseInLocation("2006-01-02", s, loc)
			if err != nil {
				d.bad(v, p+".from", "%q is not a date; give the first day the run computes, YYYY-MM-DD", s)
			} else {
				tc.from = &date
			}
		}
	}
	if v, ok := m["anomalies"]; ok {
		if q.Kind != KindIndicator || len(q.Detect) == 0 {
			d.bad(v, p+".anomalies", "the query has no detectors (detect: in its header)")
		} else {
			tc.hasDetected = true
			tc.detected = decodeFlags(d, v, p+".anomalies", true)
			for _, f := range tc.detected {
				if !slices.ContainsFunc(q.Detect, func(det Detector) bool { return det.Rule == f.rule }) {
					d.bad(v, p+".anomalies", "%q is not one of the query's detectors", f.rule)
				}
			}
		}
	}
	_, hasAreas := m["areas"]
	_, hasUnits := m["gov_units"]
	tc.hasRef = hasAreas || hasUnits
	if hasAreas {
		tc.areas = decodeAreas(d, m["areas"], p+".areas")
	}
	if hasUnits {
		tc.units = decodeUnits(d, m["gov_units"], p+".gov_units")
	}
	if v, ok := m["category_sla"]; ok {
		tc.sla = decodeSLA(d, v, p+".category_sla")
	}
	areas, units := TestHierarchy()
	if tc.hasRef {
		areas, units = tc.areas, tc.units
	}
	if v, ok := m["tables"]; ok {
		tc.tables = decodeTables(d, v, p+".tables", reg, areas)
	}
	if v, ok := m["expect"]; ok {
		if q.Kind == KindRule {
			tc.flags = decodeFlags(d, v, p+".expect", false)
		} else {
			tc.expect = decodeExpect(d, v, p+".expect", q, areas, units)
		}
	}
	return tc, len(d.probs) == before
}

// scalarText reads a scalar's text whatever YAML would make of it (a date
// or a code written without quotes).
func (d *decoder) scalarText(n *yaml.Node, path string) (string, bool) {
	if !d.scalar(n, path, "a value") {
		return "", false
	}
	return n.Value, true
}

func (d *decoder) instant(n *yaml.Node, path string) (time.Time, bool) {
	s, ok := d.scalarText(n, path)
	if !ok {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		d.bad(n, path, "%q is not an instant; write RFC 3339 with an offset, e.g. 2026-03-01T15:59:59Z or 2026-03-01T23:59:59+08:00", s)
		return time.Time{}, false
	}
	return t, true
}

func decodeAreas(d *decoder, n *yaml.Node, p string) []store.Area {
	items, _ := d.list(n, p)
	var out []store.Area
	for i, it := range items {
		ip := fmt.Sprintf("%s[%d]", p, i)
		m := d.mapping(it, ip, "code", "name", "level", "parent_code")
		if m == nil {
			continue
		}
		d.require(it, m, ip, "code", "level")
		var a store.Area
		for k, v := range m {
			s, _ := d.scalarText(v, ip+"."+k)
			switch k {
			case "code":
				a.Code = s
			case "name":
				a.Name = s
			case "level":
				a.Level = s
			case "parent_code":
				a.ParentCode = s
			}
		}
		if a.Name == "" {
			a.Name = a.Code
		}
		out = append(out, a)
	}
	return out
}

func decodeUnits(d *decoder, n *yaml.Node, p string) []store.GovUnit {
	items, _ := d.list(n, p)
	var out []store.GovUnit
	for i, it := range items {
		ip := fmt.Sprintf("%s[%d]", p, i)
		m := d.mapping(it, ip, "unit_id", "unit_type", "parent_id", "area_code", "name")
		if m == nil {
			continue
		}
		d.require(it, m, ip, "unit_id", "unit_type")
		var u store.GovUnit
		for k, v := range m {
			s, _ := d.scalarText(v, ip+"."+k)
			switch k {
			case "unit_id":
				u.UnitID = s
			case "unit_type":
				u.UnitType = s
			case "parent_id":
				u.ParentID = s
			case "area_code":
				u.AreaCode = s
			case "name":
				u.Name = s
			}
		}
		if u.Name == "" {
			u.Name = u.UnitID
		}
		out = append(out, u)
	}
	return out
}

func decodeSLA(d *decoder, n *yaml.Node, p string) []store.SLA {
	items, _ := d.list(n, p)
	var out []store.SLA
	for i, it := range items {
		ip := fmt.Sprintf("%s[%d]", p, i)
		m := d.mapping(it, ip, "platform", "category", "urgency", "work_hours")
		if m == nil {
			continue
		}
		d.require(it, m, ip, "platform", "category", "urgency", "work_hours")
		var r store.SLA
		for k, v := range m {
			s, ok := d.scalarText(v, ip+"."+k)
			if !ok {
				continue
			}
			switch k {
			case "platform":
				r.Platform = s
				if !slices.Contains(reference.Platforms, s) {
					d.bad(v, ip+".platform", "%q is not one of %s", s, strings.Join(reference.Platforms, ", "))
				}
			case "category":
				r.Category = s
			case "urgency":
				r.Urgency = s
				if !slices.Contains(reference.Urgencies, s) {
					d.bad(v, ip+".urgency", "%q is not one of %s", s, strings.Join(reference.Urgencies, ", "))
				}
			case "work_hours":
				h, err := strconv.ParseFloat(s, 64)
				if err != nil || !(h > 0) {
					d.bad(v, ip+".work_hours", "%q is not a positive number of working hours", s)
				}
				r.WorkHours = h
			}
		}
		out = append(out, r)
	}
	return out
}

func decodeTables(d *decoder, n *yaml.Node, p string, reg *schemas.Registry, areas []store.Area) []testTable {
	if n = d.deref(n, p); n == nil {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		d.bad(n, p, "must be a mapping of table name to rows, got %s", diag.Describe(n))
		return nil
	}
	byTable := map[string]*schemas.Schema{}
	var names []string
	for _, sc := range reg.All() {
		byTable[sc.Table] = sc
		names = append(names, sc.Table)
	}
	firstGrid := ""
	for _, a := range areas {
		if a.Level == string(LevelGrid) && (firstGrid == "" || a.Code < firstGrid) {
			firstGrid = a.Code
		}
	}
	var out []testTable
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		tp := diag.Join(p, k.Value)
		sc, ok := byTable[k.Value]
		if !ok {
			d.bad(k, tp, "not a record table; the tables are %s (areas, gov_units and category_sla are given beside tables)", strings.Join(names, ", "))
			continue
		}
		if seen[k.Value] {
			d.bad(k, tp, "given twice; keep one")
			continue
		}
		seen[k.Value] = true
		rows, _ := d.list(v, tp)
		t := testTable{sc: sc}
		for ri, r := range rows {
			cols, vals, ok := decodeRow(d, r, fmt.Sprintf("%s[%d]", tp, ri), sc, ri, firstGrid)
			if ok {
				t.cols = append(t.cols, cols)
				t.rows = append(t.rows, vals)
			}
		}
		out = append(out, t)
	}
	return out
}

// decodeRow reads one row: the given columns checked against the table's
// types, then dummies for the required columns left out.
func decodeRow(d *decoder, n *yaml.Node, p string, sc *schemas.Schema, index int, firstGrid string) ([]string, []any, bool) {
	var known []string
	for _, c := range sc.TableColumns() {
		known = append(known, c.Name)
	}
	m := d.mapping(n, p, known...)
	if m == nil {
		return nil, nil, false
	}
	before := len(d.probs)
	var cols []string
	var vals []any
	for _, c := range sc.TableColumns() {
		v, given := m[c.Name]
		cp := diag.Join(p, c.Name)
		if !given {
			if c.Nullable {
				continue
			}
			cols = append(cols, c.Name)
			vals = append(vals, dummy(sc, c, index, firstGrid))
			continue
		}
		if v.Kind == yaml.ScalarNode && v.Tag == "!!null" {
			if !c.Nullable {
				d.bad(v, cp, "the column is NOT NULL; give a value or leave the column out for a dummy")
			}
			continue
		}
		val, ok := decodeValue(d, v, cp, c)
		if ok {
			cols = append(cols, c.Name)
			vals = append(vals, val)
		}
	}
	return cols, vals, len(d.probs) == before
}

func dummy(sc *schemas.Schema, c schemas.Column, index int, firstGrid string) any {
	switch c.Type {
	case schemas.Timestamp:
		return time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)
	case schemas.Date:
		return "2000-01-01"
	case schemas.BigInt:
		return int64(0)
	case schemas.Double:
		return 0.0
	case schemas.Boolean:
		return false
	case schemas.VarcharList:
		return "[]"
	}
	switch {
	case slices.Contains(sc.Key, c.Name):
		return fmt.Sprintf("%s-%d", sc.Table, index+1)
	case c.Name == sc.AreaField:
		return firstGrid
	}
	return "test"
}

// decodeValue reads a value of column c, as an argument for CAST(? AS
// type).
func decodeValue(d *decoder, n *yaml.Node, p string, c schemas.Column) (any, bool) {
	switch c.Type {
	case schemas.Timestamp:
		return d.instant(n, p)
	case schemas.Date:
		s, ok := d.scalarText(n, p)
		if !ok {
			return nil, false
		}
		if _, err := time.Parse("2006-01-02", s); err != nil {
			d.bad(n, p, "%q is not a date; write YYYY-MM-DD", s)
			return nil, false
		}
		return s, true
	case schemas.BigInt:
		i, ok := d.integer(n, p)
		return int64(i), ok
	case schemas.Double:
		return d.number(n, p)
	case schemas.Boolean:
		return d.boolean(n, p)
	case schemas.VarcharList:
		items, ok := d.list(n, p)
		if !ok {
			return nil, false
		}
		var quoted []string
		for i, it := range items {
			s, ok := d.scalarText(it, fmt.Sprintf("%s[%d]", p, i))
			if !ok {
				return nil, false
			}
			quoted = append(quoted, strconv.Quote(s))
		}
		return "[" + strings.Join(quoted, ", ") + "]", true
	}
	return d.scalarText(n, p)
}

// decodeFlags reads a rule case's expectations: every subject the rule
// flags, with its area and, where given, observed, expected and the ids of
// its records; an empty list expects no flag.
func decodeFlags(d *decoder, n *yaml.Node, p string, detectors bool) []expectFlag {
	items, _ := d.list(n, p)
	var out []expectFlag
	seen := map[string]int{}
	for i, it := range items {
		ip := fmt.Sprintf("%s[%d]", p, i)
		fields := []string{"subject", "area", "observed", "expected", "records"}
		if detectors {
			fields = append(fields, "rule")
		}
		m := d.mapping(it, ip, fields...)
		if m == nil {
			continue
		}
		if detectors {
			d.require(it, m, ip, "rule", "subject", "area")
		} else {
			d.require(it, m, ip, "subject", "area")
		}
		e := expectFlag{line: it.Line}
		if v, ok := m["rule"]; ok {
			e.rule, _ = d.str(v, ip+".rule")
		}
		if v, ok := m["subject"]; ok {
			e.subject, _ = d.scalarText(v, ip+".subject")
		}
		if v, ok := m["area"]; ok {
			e.area, _ = d.scalarText(v, ip+".area")
		}
		for _, k := range []string{"observed", "expected"} {
			if v, ok := m[k]; ok {
				if f, ok := d.number(v, ip+"."+k); ok {
					if k == "observed" {
						e.observed = &f
					} else {
						e.expected = &f
					}
				}
			}
		}
		if v, ok := m["records"]; ok {
			recs, _ := d.list(v, ip+".records")
			for j, r := range recs {
				if s, ok := d.scalarText(r, fmt.Sprintf("%s.records[%d]", ip, j)); ok {
					e.records = append(e.records, s)
				}
			}
		}
		if first, dup := seen[e.rule+"/"+e.subject]; dup {
			d.bad(it, ip+".subject", "%q is expected on line %d already; a rule flags a subject once a period", e.subject, first)
			continue
		}
		seen[e.rule+"/"+e.subject] = it.Line
		out = append(out, e)
	}
	return out
}

func decodeExpect(d *decoder, n *yaml.Node, p string, q *Query, areas []store.Area, units []store.GovUnit) []expectCell {
	items, ok := d.list(n, p)
	if ok && len(items) == 0 {
		d.bad(n, p, "is empty; expect at least one cell")
	}
	areaLevel := map[string]string{}
	for _, a := range areas {
		areaLevel[a.Code] = a.Level
	}
	isUnit := map[string]bool{}
	for _, u := range units {
		isUnit[u.UnitID] = true
	}
	var out []expectCell
	seen := map[cell]int{}
	for i, it := range items {
		ip := fmt.Sprintf("%s[%d]", p, i)
		m := d.mapping(it, ip, "area", "level", "numerator", "denominator", "value", "suppressed")
		if m == nil {
			continue
		}
		d.require(it, m, ip, "area", "numerator", "denominator", "value")
		e := expectCell{line: it.Line}
		ok := true
		if v, has := m["area"]; has {
			e.area, ok = d.scalarText(v, ip+".area")
		}
		if v, has := m["level"]; has {
			if s, sok := d.str(v, ip+".level"); sok {
				e.level = s
			}
		}
		if ok && e.level == "" {
			switch {
			case e.area == DistrictCode:
				e.level = string(LevelDistrict)
			case areaLevel[e.area] != "":
				e.level = areaLevel[e.area]
			case isUnit[e.area]:
				e.level = string(LevelGovUnit)
			default:
				d.bad(m["area"], ip+".area", "%q is neither an area nor a gov unit of the case's hierarchy; use a code of it, or district", e.area)
				ok = false
			}
		}
		if ok && !q.Publishes(Level(e.level)) {
			d.bad(it, ip+".level", "%s is not in the query's grain (%s)", e.level, joinAny(q.Grain))
			ok = false
		}
		if v, has := m["numerator"]; has {
			e.numerator, _ = d.number(v, ip+".numerator")
		}
		if v, has := m["denominator"]; has {
			e.denominator, _ = d.number(v, ip+".denominator")
		}
		if v, has := m["value"]; has && !(v.Kind == yaml.ScalarNode && v.Tag == "!!null") {
			if f, vok := d.number(v, ip+".value"); vok {
				e.value = &f
			}
		}
		if v, has := m["suppressed"]; has {
			e.suppressed, _ = d.boolean(v, ip+".suppressed")
		}
		if !ok {
			continue
		}
		c := cell{Level(e.level), e.area}
		if first, dup := seen[c]; dup {
			d.bad(it, ip, "%s %s is also expected on line %d; keep one", e.level, e.area, first)
			continue
		}
		seen[c] = it.Line
		out = append(out, e)
	}
	return out
}
