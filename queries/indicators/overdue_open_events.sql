/*
name: overdue_open_events
title:
  zh: 超期未结事件数
  en: Overdue open grid events
kind: indicator
schedule:
  normal: "5 0 * * *"
  emergency: "0-59/5 * * * *"
grain: [grid, community, street, county, district, gov_unit]
period: day
unit: count
direction: lower_is_better
min_denominator: 0
inputs: [grid_events]
definition:
  zh: >-
    统计期末（统计期未结束时为计算时刻）仍未结案且已过处置时限的事件数。未结：已上报、
    尚未结案或评价（结案时间晚于该时刻也算未结）；缓办、不予受理和合并的事件不计。
    分母为该时刻未结事件总数，供计算超期占比；事件不涉及个人，故不做小格抑制。
  en: >-
    Events open at the end of the period (at the computation, while it runs) whose deadline has
    passed. Open: reported before that instant and not closed or evaluated by it (closed_at later
    counts as open); deferred, rejected and merged events are left out. The denominator is all
    events open at that instant, for the overdue share; events are not people, so no cell is
    suppressed.
  source: >-
    DOMAIN.md §9 #4 (超期未结数 = count(status ∉ {closed, evaluated} ∧ now > deadline)).
*/
WITH open_at AS (
  SELECT grid_code, deadline_at
  FROM grid_events
  WHERE reported_at < $as_of
    AND NOT (status IN ('closed', 'evaluated') AND closed_at IS NOT NULL AND closed_at <= $as_of)
    AND NOT coalesce(deferred, false)
    AND status NOT IN ('deferred', 'rejected', 'merged')
)
SELECT grid_code AS area_code,
       CAST($period_start AS TIMESTAMPTZ) AS period_start,
       CAST(count(*) FILTER (WHERE deadline_at < $as_of) AS DOUBLE) AS numerator,
       CAST(count(*) AS DOUBLE) AS denominator
FROM open_at
GROUP BY grid_code
