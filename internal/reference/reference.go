// Package reference owns the district's reference data as the pipeline
// reads it: the area hierarchy (areas.csv), the responsibility units
// (gov_units.csv), the category time limits (category_sla.csv) and the
// working-day calendar (the official one built in plus a deployment's own
// files), read from the files the pipeline file names and written to the
// tables the indicators join (areas, gov_units, category_sla, calendar). It
// is the one writer of those tables.
package reference

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/yiwang-gov/yiwang/internal/calendar"
	"github.com/yiwang-gov/yiwang/internal/store"
	"github.com/yiwang-gov/yiwang/schemas"
)

// Files names the reference files and reads them.
type Files struct {
	Areas    string // code,name,level,parent_code
	GovUnits string // unit_id,unit_type,parent_id,area_code,name; optional
	// SLA is the category time-limit table (处置时限):
	// platform,category,urgency,work_hours; optional.
	SLA string
	// Holidays are further calendar files (date,kind,holiday) added to the
	// official calendar.
	Holidays []string
	// Read returns a named file's bytes.
	Read func(name string) ([]byte, error)
}

// AreaSet is the set of known area codes, for validation.
type AreaSet map[string]bool

// Known reports whether code is in the areas reference table.
func (a AreaSet) Known(code string) bool { return a[code] }

// NewAreaSet is the set of the codes of areas.
func NewAreaSet(areas []store.Area) AreaSet {
	set := make(AreaSet, len(areas))
	for _, a := range areas {
		set[a.Code] = true
	}
	return set
}

// Load reads the areas and responsibility units into the database and
// returns the known area codes.
func Load(ctx context.Context, f Files, st *store.Store) (AreaSet, error) {
	areas, err := ReadAreas(f)
	if err != nil {
		return nil, err
	}
	var units []store.GovUnit
	if f.GovUnits != "" {
		raw, err := f.Read(f.GovUnits)
		if err != nil {
			return nil, err
		}
		rows, err := readCSV(raw, f.GovUnits, []string{"unit_id", "unit_type", "parent_id", "area_code", "name"})
		if err != nil {
			return nil, err
		}
		for _, r := range rows {
			units = append(units, store.GovUnit{UnitID: r[0], UnitType: r[1], ParentID: r[2], AreaCode: r[3], Name: r[4]})
		}
	}
	if err := st.ReplaceReference(ctx, areas, units); err != nil {
		return nil, err
	}
	if f.SLA != "" {
		limits, err := ReadSLA(f)
		if err != nil {
			return nil, err
		}
		if err := st.ReplaceSLA(ctx, limits); err != nil {
			return nil, err
		}
	}
	return NewAreaSet(areas), nil
}

// Platforms and Urgencies are the values category_sla.csv's platform and
// urgency columns take.
var (
	Platforms = []string{"grid", "police", "market", "property"}
	Urgencies = []string{"urgent", "important", "normal"}
)

// ReadSLA reads the category time-limit file: one row per platform,
// category and urgency, each with a positive number of working hours (at
// most a year's worth).
func ReadSLA(f Files) ([]store.SLA, error) {
	raw, err := f.Read(f.SLA)
	if err != nil {
		return nil, err
	}
	rows, err := readCSV(raw, f.SLA, []string{"platform", "category", "urgency", "work_hours"})
	if err != nil {
		return nil, err
	}
	out := make([]store.SLA, 0, len(rows))
	seen := map[[3]string]int{}
	for i, r := range rows {
		line := i + 2
		switch {
		case !slices.Contains(Platforms, r[0]):
			return nil, fmt.Errorf("%s:%d: platform %q is not one of %s", f.SLA, line, r[0], strings.Join(Platforms, ", "))
		case strings.TrimSpace(r[1]) == "":
			return nil, fmt.Errorf("%s:%d: the category is empty; give the platform's category code", f.SLA, line)
		case !slices.Contains(Urgencies, r[2]):
			return nil, fmt.Errorf("%s:%d: urgency %q is not one of %s", f.SLA, line, r[2], strings.Join(Urgencies, ", "))
		}
		h, err := strconv.ParseFloat(r[3], 64)
		if err != nil || !(h > 0 && h <= 8760) {
			return nil, fmt.Errorf("%s:%d: work_hours %q must be a number of working hours above 0 and at most 8760", f.SLA, line, r[3])
		}
		k := [3]string{r[0], r[1], r[2]}
		if first, dup := seen[k]; dup {
			return nil, fmt.Errorf("%s:%d: %s %s %s is also on line %d; give each platform, category and urgency one limit", f.SLA, line, r[0], r[1], r[2], first)
		}
		seen[k] = line
		out = append(out, store.SLA{Platform: r[0], Category: r[1], Urgency: r[2], WorkHours: h})
	}
	return out, nil
}

// ReadAreas reads the areas file; a street, community or grid code must
// have the form of its level.
func ReadAreas(f Files) ([]store.Area, error) {
	raw, err := f.Read(f.Areas)
	if err != nil {
		return nil, err
	}
	rows, err := readCSV(raw, f.Areas, []string{"code", "name", "level", "parent_code"})
	if err != nil {
		return nil, err
	}
	out := make([]store.Area, 0, len(rows))
	for i, r := range rows {
		if r[2] == "street" || r[2] == "community" || r[2] == "grid" {
			if err := schemas.AreaCodeFormat(r[0]); err != nil {
				return nil, fmt.Errorf("%s:%d: code %s: %w", f.Areas, i+2, r[0], err)
			}
		}
		out = append(out, store.Area{Code: r[0], Name: r[1], Level: r[2], ParentCode: r[3]})
	}
	return out, nil
}

// LoadCalendar builds the working-day calendar — the official one built in
// plus the Holidays files — and writes it to the calendar table.
func LoadCalendar(ctx context.Context, f Files, st *store.Store) (*calendar.Calendar, error) {
	cal, err := calendar.Official()
	if err != nil {
		return nil, err
	}
	for _, name := range f.Holidays {
		raw, err := f.Read(name)
		if err != nil {
			return nil, err
		}
		days, err := calendar.Load(bytes.NewReader(raw), name)
		if err != nil {
			return nil, err
		}
		if cal, err = cal.With(days...); err != nil {
			return nil, err
		}
	}
	if err := WriteCalendar(ctx, st, cal); err != nil {
		return nil, err
	}
	return cal, nil
}

// WriteCalendar writes cal to the calendar table that the indicators'
// working-time arithmetic joins: every day of the years it covers, and the
// next year, marked not covered.
func WriteCalendar(ctx context.Context, st *store.Store, cal *calendar.Calendar) error {
	first, last := cal.Years()
	loc := cal.Location()
	rows := cal.CalendarRows(time.Date(first, 1, 1, 0, 0, 0, 0, loc), time.Date(last+1, 12, 31, 12, 0, 0, 0, loc))
	days := make([]store.CalendarDay, len(rows))
	for i, r := range rows {
		days[i] = store.CalendarDay{Date: time.Date(r.Date.Year, time.Month(r.Date.Month), r.Date.Day, 0, 0, 0, 0, time.UTC),
			Kind: r.Kind.String(), IsWorkday: r.IsWorkday, Holiday: r.Holiday, WorkingSeconds: int(r.WorkingSeconds), Covered: r.Covered}
	}
	return st.ReplaceCalendar(ctx, days)
}

func readCSV(raw []byte, name string, header []string) ([][]string, error) {
	r := csv.NewReader(bytes.NewReader(bytes.TrimPrefix(raw, []byte("\xef\xbb\xbf"))))
	r.FieldsPerRecord = 0 // every row as long as the header, which is checked first
	first, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("%s:1: read header: %w", name, err)
	}
	if strings.Join(first, ",") != strings.Join(header, ",") {
		return nil, fmt.Errorf("%s:1: header must be %s, got %s", name, strings.Join(header, ","), strings.Join(first, ","))
	}
	var out [][]string
	for {
		rec, err := r.Read()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		out = append(out, rec)
	}
}
