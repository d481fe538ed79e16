-- A property-management system's work orders, updated in place: the table
-- the connector's tests read. reporter_name and note are columns a reader
-- role is not granted (minimum necessary).
CREATE TABLE work_order (
    order_id       text PRIMARY KEY,
    kind           text NOT NULL,
    category       text NOT NULL,
    object_type    text NOT NULL,
    object_id      text,
    grid_code      text NOT NULL,
    status         text NOT NULL,
    created_at     timestamptz NOT NULL,
    assigned_at    timestamptz,
    arrived_at     timestamptz,
    completed_at   timestamptz,
    urgent         boolean,
    satisfaction   smallint,
    reopened       boolean,
    reporter_phone text,
    reporter_name  text,
    note           text,
    updated_at     timestamptz NOT NULL DEFAULT now()
);
-- The poll's order and condition: (updated_at, order_id) > cursor.
CREATE INDEX work_order_cursor ON work_order (updated_at, order_id);

INSERT INTO work_order VALUES
    ('WO20261126000001', 'repair', 'elevator', 'building', '幸福里小区3号楼', '220173002001004', 'completed',
     '2026-11-26 08:00:00.123456+08', '2026-11-26 08:05:00+08', '2026-11-26 08:30:00+08', '2026-11-26 09:10:00+08',
     true, 5, false, '13800138000', '张三', '电梯困人，已解救', '2026-11-26 09:10:00.000001+08'),
    ('WO20261126000002', 'complaint', 'neighbour', 'room', NULL, '220173002001004', 'created',
     '2026-11-26 10:00:00+08', NULL, NULL, NULL,
     NULL, NULL, NULL, NULL, '李四', '楼上漏水', '2026-11-26 10:00:00+08'),
    ('WO20261126000003', 'consult', 'fee', 'compound', '幸福里小区', '220173002001005', 'assigned',
     '2026-11-26 10:00:00+08', '2026-11-26 10:02:00+08', NULL, NULL,
     false, NULL, NULL, '13912345678', '王五', NULL, '2026-11-26 10:00:00+08');
