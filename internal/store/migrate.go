package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Migration is one change of a component's tables, applied once, in
// version order. A component is the package that owns the tables (store,
// modes, queries); its migrations stay with it, and Migrate applies them
// and records each in schema_versions.
type Migration struct {
	Version int
	Name    string
	SQL     string
}

const versionsTable = `CREATE TABLE IF NOT EXISTS schema_versions (
  component VARCHAR NOT NULL,
  version INTEGER NOT NULL,
  name VARCHAR NOT NULL,
  applied_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (component, version))`

// Migrate applies the migrations of component that schema_versions does
// not list, each in a transaction of its own with its record. Versions
// must rise from 1 without gaps. A database that lists a version of
// component newer than any of ms was written by a newer yiwang and is
// refused. A first version written as CREATE ... IF NOT EXISTS adopts a
// database made before schema_versions existed.
func (s *Store) Migrate(ctx context.Context, component string, ms []Migration) error {
	for i, m := range ms {
		if m.Version != i+1 {
			return fmt.Errorf("%s migration %q has version %d, want %d: versions rise from 1 without gaps", component, m.Name, m.Version, i+1)
		}
	}
	if _, err := s.db.ExecContext(ctx, versionsTable); err != nil {
		return fmt.Errorf("create schema_versions: %w", err)
	}
	var have sql.NullInt64
	if err := s.db.QueryRowContext(ctx, "SELECT max(version) FROM schema_versions WHERE component = ?", component).Scan(&have); err != nil {
		return fmt.Errorf("read the version of %s: %w", component, err)
	}
	if int(have.Int64) > len(ms) {
		return fmt.Errorf("the database's %s tables are at version %d, and this yiwang knows versions up to %d: it was written by a newer yiwang; run that one, or rebuild the database (yiwang rebuild)",
			component, have.Int64, len(ms))
	}
	for _, m := range ms[have.Int64:] {
		if err := s.apply(ctx, component, m); err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) apply(ctx context.Context, component string, m Migration) (err error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, tx.Rollback())
		}
	}()
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return fmt.Errorf("%s migration %d (%s): %w", component, m.Version, m.Name, err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO schema_versions VALUES (?, ?, ?, ?)", component, m.Version, m.Name, time.Now().UTC()); err != nil {
		return fmt.Errorf("record %s migration %d: %w", component, m.Version, err)
	}
	return tx.Commit()
}

// migrations are the store's own tables: the loader's offsets and the
// reference data.
var migrations = []Migration{
	{Version: 1, Name: "load offsets", SQL: `CREATE TABLE IF NOT EXISTS load_offsets (
  topic VARCHAR NOT NULL,
  partition INTEGER NOT NULL,
  next_offset BIGINT NOT NULL,
  loaded_at TIMESTAMPTZ NOT NULL,
  PRIMARY KEY (topic, partition))`},
	{Version: 2, Name: "areas", SQL: `CREATE TABLE IF NOT EXISTS areas (
  code VARCHAR PRIMARY KEY,
  name VARCHAR NOT NULL,
  level VARCHAR NOT NULL,
  parent_code VARCHAR)`},
	{Version: 3, Name: "responsibility units", SQL: `CREATE TABLE IF NOT EXISTS gov_units (
  unit_id VARCHAR PRIMARY KEY,
  unit_type VARCHAR NOT NULL,
  parent_id VARCHAR,
  area_code VARCHAR,
  name VARCHAR NOT NULL)`},
	{Version: 4, Name: "calendar", SQL: `CREATE TABLE IF NOT EXISTS calendar (
  date DATE PRIMARY KEY,
  kind VARCHAR NOT NULL,
  is_workday BOOLEAN NOT NULL,
  holiday VARCHAR,
  working_seconds INTEGER NOT NULL,
  covered BOOLEAN NOT NULL)`},
	{Version: 5, Name: "grids view", SQL: `CREATE OR REPLACE VIEW grids AS
  SELECT g.code AS grid_code, g.name AS grid_name, g.parent_code AS community_code,
         c.parent_code AS street_code,
         CASE WHEN CAST(right(g.code, 3) AS INTEGER) >= 900 THEN 'dedicated' ELSE 'basic' END AS grid_type
  FROM areas g LEFT JOIN areas c ON c.code = g.parent_code
  WHERE g.level = 'grid'`},
	{Version: 6, Name: "category time limits", SQL: `CREATE TABLE IF NOT EXISTS category_sla (
  platform VARCHAR NOT NULL,
  category VARCHAR NOT NULL,
  urgency VARCHAR NOT NULL,
  work_hours DOUBLE NOT NULL,
  PRIMARY KEY (platform, category, urgency))`},
}

func (s *Store) migrate(ctx context.Context) error { return s.Migrate(ctx, "store", migrations) }
