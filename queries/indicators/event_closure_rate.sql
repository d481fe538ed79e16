/*
name: event_closure_rate
title:
  zh: 事件结案率
  en: Closure rate of grid events
kind: indicator
schedule:
  normal: "30 1 * * *"
  emergency: "0-59/5 * * * *"
grain: [grid, community, street, county, district, gov_unit]
period: month
unit: percent
direction: higher_is_better
thresholds:
  normal: {warn: 90, alert: 80}
min_denominator: 5
inputs: [grid_events]
definition:
  zh: >-
    结案数 / (应结案数 − 缓办数) × 100%。应结案数与事件按期办结率相同：处置时限落在统计期内、
    未缓办、未被不予受理或合并的事件。结案数：其中在统计期结束前（统计期未结束时为计算时刻前）
    已结案或已评价的事件，无论是否超期。
  en: >-
    Events closed / (events due − deferred events) × 100%. Events due as for the on-time closure
    rate: deadline in the period, not deferred, rejected or merged. Closed: of those, the events
    closed (status closed or evaluated) before the period ends — or before the computation, while
    it runs — on time or late.
  source: >-
    DOMAIN.md §9 #2 (事件结案率 = 结案数 / (应结案数 − 缓办数)).
*/
WITH due AS (
  SELECT grid_code,
         status IN ('closed', 'evaluated') AND closed_at IS NOT NULL AND closed_at < $as_of AS closed
  FROM grid_events
  WHERE deadline_at >= $period_start
    AND deadline_at < $as_of
    AND NOT coalesce(deferred, false)
    AND status NOT IN ('deferred', 'rejected', 'merged')
)
SELECT grid_code AS area_code,
       CAST($period_start AS TIMESTAMPTZ) AS period_start,
       CAST(count(*) FILTER (WHERE closed) AS DOUBLE) AS numerator,
       CAST(count(*) AS DOUBLE) AS denominator
FROM due
GROUP BY grid_code
