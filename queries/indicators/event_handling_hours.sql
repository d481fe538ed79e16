/*
name: event_handling_hours
title:
  zh: 事件平均处置时长（工作时）
  en: Mean handling time of grid events, in working hours
kind: indicator
schedule:
  normal: "40 1 * * *"
  emergency: "0-59/15 * * * *"
grain: [grid, community, street, county, district, gov_unit]
period: month
unit: hours
direction: lower_is_better
thresholds:
  normal: {warn: 16, alert: 24}
  emergency: {warn: 8, alert: 16}
min_denominator: 5
inputs: [grid_events, calendar]
definition:
  zh: >-
    统计期内结案的事件从派遣到结案所用工作时之和 / 这些事件数，即平均处置时长（工作时）。工作时按官方
    日历（含调休）的工作日 08:30–12:00、13:00–17:30（Asia/Shanghai）计，节假日和周末不计。结案：状态
    为结案或已评价，结案时间落在统计期内（统计期未结束时为计算时刻前）；没有派遣时间或结案早于派遣的
    事件不计（见数据质量指标）。DOMAIN.md 的 P50/P90 分位数不能由分子/分母汇总，故以平均值代替；
    分位数须另由明细计算。
  en: >-
    Working hours from dispatch to closure summed over the events closed in the period / those
    events: the mean handling time in working hours. Working hours are 08:30–12:00 and 13:00–17:30
    (Asia/Shanghai) on the working days of the official calendar with make-up working days;
    holidays and weekends do not count. Closed: status closed or evaluated, closed_at in the
    period (before the computation while it runs); events without dispatched_at, or closed before
    they were dispatched, are left out (the data-quality indicators count them). DOMAIN.md asks
    for P50/P90, which cannot be rolled up as a numerator over a denominator; the mean stands in
    for them, and percentiles need the rows.
  source: >-
    DOMAIN.md §9 #5 (处置时长 = closed_at − dispatched_at in working hours), as a mean; §0 point 7
    and §6 (SLA clocks in 工作时 on the official calendar with 调休).
*/
-- The shifts of a working day, as offsets from midnight (calendar.DefaultHours).
WITH shifts(shift_start, shift_end) AS (
  VALUES (INTERVAL 510 MINUTE, INTERVAL 720 MINUTE), (INTERVAL 780 MINUTE, INTERVAL 1050 MINUTE)
),
closed AS (
  SELECT event_id, grid_code, dispatched_at, closed_at
  FROM grid_events
  WHERE status IN ('closed', 'evaluated')
    AND closed_at >= $period_start
    AND closed_at < $as_of
    AND dispatched_at IS NOT NULL
    AND dispatched_at <= closed_at
),
-- Every shift from the earliest dispatch to the period's end, with the working time of the
-- shifts before it: a clock that runs only in working hours.
clock AS (
  SELECT since, until,
         CAST(coalesce(sum(epoch_us(until) - epoch_us(since)) OVER (ORDER BY since ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING), 0) AS BIGINT) AS before_us
  FROM (
    SELECT timezone('Asia/Shanghai', c.date + sh.shift_start) AS since,
           timezone('Asia/Shanghai', c.date + sh.shift_end) AS until
    FROM calendar c, shifts sh
    WHERE c.is_workday
      AND c.date BETWEEN (SELECT CAST(timezone('Asia/Shanghai', min(dispatched_at)) AS DATE) - 1 FROM closed)
                     AND CAST(timezone('Asia/Shanghai', $as_of) AS DATE) + 1
  )
),
-- The clock's reading at an instant: the working time of the shifts before the last shift
-- begun, plus as much of that shift as had passed. An instant before every shift reads 0.
readings AS (
  SELECT e.event_id, 'dispatched' AS what,
         coalesce(c.before_us + least(greatest(epoch_us(e.dispatched_at) - epoch_us(c.since), 0), epoch_us(c.until) - epoch_us(c.since)), 0) AS us
  FROM closed e ASOF LEFT JOIN clock c ON e.dispatched_at >= c.since
  UNION ALL
  SELECT e.event_id, 'closed',
         coalesce(c.before_us + least(greatest(epoch_us(e.closed_at) - epoch_us(c.since), 0), epoch_us(c.until) - epoch_us(c.since)), 0)
  FROM closed e ASOF LEFT JOIN clock c ON e.closed_at >= c.since
),
-- Working time of each event: the clock at its closure less the clock at its dispatch.
worked AS (
  SELECT event_id, sum(CASE WHEN what = 'closed' THEN us ELSE -us END) AS us
  FROM readings
  GROUP BY event_id
)
SELECT e.grid_code AS area_code,
       CAST($period_start AS TIMESTAMPTZ) AS period_start,
       CAST(coalesce(sum(w.us), 0) AS DOUBLE) / 3600000000 AS numerator,
       CAST(count(*) AS DOUBLE) AS denominator
FROM closed e
LEFT JOIN worked w ON w.event_id = e.event_id
GROUP BY e.grid_code
