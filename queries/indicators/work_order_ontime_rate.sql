/*
name: work_order_ontime_rate
title:
  zh: 物业工单按时完成率
  en: On-time completion rate of property work orders
kind: indicator
schedule:
  normal: "45 1 * * *"
  emergency: "0-59/15 * * * *"
grain: [grid, community, street, county, district, gov_unit]
period: month
unit: percent
direction: higher_is_better
thresholds:
  normal: {warn: 90, alert: 80}
min_denominator: 5
inputs: [work_orders, calendar, category_sla]
definition:
  zh: >-
    按时完成的工单数 / 到期工单数 × 100%。时限取自时限表 category_sla（平台 property，按工单类别与
    紧急程度：紧急工单取 urgent 行，其余取 normal 行），按工作时计（官方日历含调休，工作时段
    08:30–12:00、13:00–17:30，Asia/Shanghai）。演示数据：紧急 4 个工作时；水电、电梯、供暖 8 个
    工作时（1 个工作日）；其余 16 个工作时（2 个工作日）。时限表中没有的类别不计。到期：由创建时间加
    时限得到的截止时间落在统计期内；已取消的工单不计。按时：完成时间不晚于截止时间。统计期未结束时只计
    截止时间已过的工单。
  en: >-
    Work orders completed on time / work orders due × 100%. Limits come from the time-limit
    table category_sla (platform property, by the order's category and urgency: the urgent row
    for urgent orders, the normal row for the others), in working hours on the official calendar
    with make-up working days (shifts 08:30–12:00 and 13:00–17:30, Asia/Shanghai). The demo's
    table: urgent orders 4 working hours; water and electricity, lifts and heating 8 (one working
    day); all others 16 (two working days). A category the table lacks is not counted. Due: the
    deadline, creation plus the limit, falls in the period; cancelled orders are left out. On
    time: completed_at at or before the deadline. While the period runs, only orders whose
    deadline has passed count.
  source: >-
    DOMAIN.md §9 #22 (物业工单按时完成率 = completed ≤ SLA / due); the limits are this deployment's
    assumption until the local property-service rules are known (DOMAIN.md §11 question 4).
*/
-- The shifts of a working day, as offsets from midnight (calendar.DefaultHours).
WITH shifts(shift_start, shift_end) AS (
  VALUES (INTERVAL 510 MINUTE, INTERVAL 720 MINUTE), (INTERVAL 780 MINUTE, INTERVAL 1050 MINUTE)
),
-- Every shift from 31 days before the period to 60 days after as_of, with the working time of
-- the shifts before it (a clock that runs only in working hours). A limit of up to 80 working
-- hours (ten working days) never spans more than 30 days, even across the Spring Festival.
clock AS (
  SELECT since, until,
         CAST(coalesce(sum(epoch_us(until) - epoch_us(since)) OVER (ORDER BY since ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS BIGINT) AS before_us
  FROM (
    SELECT timezone('Asia/Shanghai', c.date + sh.shift_start) AS since,
           timezone('Asia/Shanghai', c.date + sh.shift_end) AS until
    FROM calendar c, shifts sh
    WHERE c.is_workday
      AND c.date BETWEEN CAST(timezone('Asia/Shanghai', $period_start) AS DATE) - 31
                     AND CAST(timezone('Asia/Shanghai', $as_of) AS DATE) + 60
  )
),
orders AS (
  SELECT o.order_id, o.grid_code, o.created_at, o.completed_at,
         CAST(s.work_hours * 3600000000 AS BIGINT) AS limit_us
  FROM work_orders o
  JOIN category_sla s ON s.platform = 'property' AND s.category = o.category
   AND s.urgency = CASE WHEN coalesce(o.urgent, false) THEN 'urgent' ELSE 'normal' END
  WHERE o.status <> 'cancelled'
    AND o.created_at >= $period_start - INTERVAL 720 HOUR
    AND o.created_at < $as_of
),
-- The working clock at each order's creation: the shift that began last before it, and how
-- much of that shift had passed.
started AS (
  SELECT o.*, c.before_us + least(greatest(epoch_us(o.created_at) - epoch_us(c.since), 0), epoch_us(c.until) - epoch_us(c.since))
           + o.limit_us AS due_us
  FROM orders o
  ASOF JOIN clock c ON o.created_at >= c.since
),
-- The deadline: in the last shift whose clock starts before the due reading, as far into it as
-- the reading is past the shift's start. A reading past the clock's last shift (the calendar
-- table ends) has no deadline yet, and the order is not counted.
deadlines AS (
  SELECT s.order_id, s.grid_code, s.completed_at, c.since + to_microseconds(s.due_us - c.before_us) AS deadline_at
  FROM started s
  ASOF JOIN clock c ON s.due_us > c.before_us
  WHERE s.due_us - c.before_us <= epoch_us(c.until) - epoch_us(c.since)
)
SELECT grid_code AS area_code,
       CAST($period_start AS TIMESTAMPTZ) AS period_start,
       CAST(count(*) FILTER (WHERE completed_at IS NOT NULL AND completed_at <= deadline_at) AS DOUBLE) AS numerator,
       CAST(count(*) AS DOUBLE) AS denominator
FROM deadlines
WHERE deadline_at >= $period_start
  AND deadline_at < $as_of
GROUP BY grid_code
