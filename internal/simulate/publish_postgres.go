package simulate

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/yiwang-gov/yiwang/schemas"
)

// WorkOrderTable is the property system's table PostgresPublisher keeps.
const WorkOrderTable = "work_order"

// workOrderColumns pairs the property system's columns with the schema's
// fields, in table order. The connector's query aliases them back.
func workOrderColumns() [][2]string {
	return [][2]string{
		{"order_no", "order_id"},
		{"order_type", "kind"},
		{"category", "category"},
		{"object_type", "object_type"},
		{"object_code", "object_id"},
		{"grid_code", "grid_code"},
		{"status", "status"},
		{"create_time", "created_at"},
		{"dispatch_time", "assigned_at"},
		{"arrive_time", "arrived_at"},
		{"finish_time", "completed_at"},
		{"is_urgent", "urgent"},
		{"visit_score", "satisfaction"},
		{"is_reopened", "reopened"},
		{"reporter_phone", "reporter_phone"},
		{"updated_at", "updated_at"},
	}
}

// workOrderDDL creates the property system's table if it is missing: typed
// columns (timestamptz, boolean, smallint) as a property system has them,
// the reporter's phone in clear, and the index the connector's
// (updated_at, order_no) cursor reads along.
const workOrderDDL = `
CREATE TABLE IF NOT EXISTS work_order (
	order_no       text PRIMARY KEY,       -- 工单号
	order_type     text,                   -- 类型: repair, complaint, consult, suggestion
	category       text,                   -- 分类
	object_type    text,                   -- 报修对象类型
	object_code    text,                   -- 报修对象 (room, entrance, building or compound code)
	grid_code      text,                   -- 网格编码
	status         text,                   -- 状态
	create_time    timestamptz,            -- 创建时间
	dispatch_time  timestamptz,            -- 派单时间
	arrive_time    timestamptz,            -- 到场时间
	finish_time    timestamptz,            -- 完成时间
	is_urgent      boolean,                -- 急修
	visit_score    smallint,               -- 回访评价 1-5
	is_reopened    boolean,                -- 返修
	reporter_phone text,                   -- 报修人电话 (personal, in clear)
	updated_at     timestamptz NOT NULL    -- 更新时间
);
CREATE INDEX IF NOT EXISTS work_order_updated_at ON work_order (updated_at, order_no);
`

// PostgresPublisher keeps the property system's work_order table in a
// PostgreSQL database up to date, as the property system would: every new
// version of a work order updates its row in place (an upsert by
// order_no), with updated_at set to the version's updated_at. Publishing a
// version again writes the same row: a restarted process re-publishing its
// re-generated history leaves one row per order at the newest version it
// wrote.
//
// The table's columns are typed, so an invalid work order is stored as the
// nearest thing a typed table holds: a bad grid code or a code outside an
// enumeration as text, a missing required field as NULL, and a malformed
// created_at (which timestamptz cannot hold) as NULL too. All of them are
// refused by the schema, so every invalid work order is published and the
// Ledger's expectation (dead-lettered) holds; only the reason the connector
// reports for a bad_timestamp order is a missing created_at.
//
// A connector reading the table must hold rows back for longer than the
// publish interval plus a transaction (sqldb's delay): rows are stamped
// with the time the simulator wrote the version, which is up to one
// interval before they are committed.
type PostgresPublisher struct {
	s   *Simulator
	url string

	mu   sync.Mutex
	conn *pgx.Conn // nil after a failure: the next Publish connects again
	pos  position
}

var _ Publisher = (*PostgresPublisher)(nil)

// NewPostgresPublisher connects to the database at url (a postgres:// URL
// or keyword=value string) and creates the work_order table if it is
// missing.
func (s *Simulator) NewPostgresPublisher(ctx context.Context, url string) (*PostgresPublisher, error) {
	p := &PostgresPublisher{s: s, url: url, pos: newPosition(s, TransportPostgres)}
	if err := p.connect(ctx); err != nil {
		return nil, err
	}
	return p, nil
}

func (p *PostgresPublisher) connect(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, p.url)
	if err != nil {
		return fmt.Errorf("connect to the property database: %w", err)
	}
	if _, err := conn.Exec(ctx, workOrderDDL); err != nil {
		_ = conn.Close(ctx)
		return fmt.Errorf("create table %s: %w", WorkOrderTable, err)
	}
	p.conn = conn
	return nil
}

// Publish upserts the work orders changed since the previous Publish, up to
// 5000 rows per transaction, and returns how many rows it wrote. After an
// error the connection is dropped and made again by the next Publish.
func (p *PostgresPublisher) Publish(ctx context.Context) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn == nil {
		if err := p.connect(ctx); err != nil {
			return 0, err
		}
	}
	return p.pos.drain(ctx, p.s, func(_ kind, batch []change) error {
		if err := p.upsert(ctx, batch); err != nil {
			_ = p.conn.Close(context.Background())
			p.conn = nil
			return err
		}
		return nil
	})
}

// upsertSQL inserts a row or updates it in place.
func upsertSQL() string {
	cols := workOrderColumns()
	names := make([]string, len(cols))
	params := make([]string, len(cols))
	var set []string
	for i, c := range cols {
		names[i] = c[0]
		params[i] = fmt.Sprintf("$%d", i+1)
		if c[0] != "order_no" {
			set = append(set, c[0]+" = EXCLUDED."+c[0])
		}
	}
	return "INSERT INTO " + WorkOrderTable + " (" + strings.Join(names, ", ") + ") VALUES (" + strings.Join(params, ", ") +
		") ON CONFLICT (order_no) DO UPDATE SET " + strings.Join(set, ", ")
}

// upsert writes a batch in one transaction.
func (p *PostgresPublisher) upsert(ctx context.Context, batch []change) error {
	stmt := upsertSQL()
	b := &pgx.Batch{}
	for _, c := range batch {
		obj, err := schemas.Decode(c.raw)
		if err != nil {
			return fmt.Errorf("decode own work order %s: %w", c.id, err)
		}
		b.Queue(stmt, workOrderRow(obj)...)
	}
	tx, err := p.conn.Begin(ctx)
	if err != nil {
		return fmt.Errorf("upsert work orders: %w", err)
	}
	if err := tx.SendBatch(ctx, b).Close(); err != nil {
		_ = tx.Rollback(context.Background())
		return fmt.Errorf("upsert work orders: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit work orders: %w", err)
	}
	return nil
}

// workOrderRow returns the column values of a work order, in table order:
// what the typed columns cannot hold is NULL.
func workOrderRow(obj map[string]any) []any {
	cols := workOrderColumns()
	out := make([]any, len(cols))
	for i, c := range cols {
		v := obj[c[1]]
		switch c[0] {
		case "create_time", "dispatch_time", "arrive_time", "finish_time", "updated_at":
			s, _ := v.(string)
			if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
				out[i] = t
			} else {
				out[i] = nil // absent, null or malformed
			}
		case "is_urgent", "is_reopened":
			if b, ok := v.(bool); ok {
				out[i] = b
			} else {
				out[i] = nil
			}
		case "visit_score":
			out[i] = nil
			if n, ok := v.(json.Number); ok {
				if x, err := n.Int64(); err == nil && x >= -32768 && x <= 32767 {
					out[i] = int16(x)
				}
			}
		default:
			if s, ok := v.(string); ok {
				out[i] = s
			} else {
				out[i] = nil
			}
		}
	}
	return out
}

// RecordTypes returns the record types the publisher writes.
func (p *PostgresPublisher) RecordTypes() []string { return TransportPostgres.RecordTypes() }

// Close closes the connection.
func (p *PostgresPublisher) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conn == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := p.conn.Close(ctx)
	p.conn = nil
	if err != nil {
		return fmt.Errorf("close property database connection: %w", err)
	}
	return nil
}
