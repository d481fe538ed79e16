/*
name: event_ontime_closure_rate
title:
  zh: 事件按期办结率
  en: On-time closure rate of grid events
kind: indicator
schedule:
  normal: "30 1 * * *"
  emergency: "0-59/5 * * * *"
grain: [grid, community, street, county, district, gov_unit]
period: month
unit: percent
direction: higher_is_better
thresholds:
  normal: {warn: 80, alert: 70}
  emergency: {warn: 90, alert: 80}
min_denominator: 5
detect:
  - rule: funnel
    levels: [community, street]
    params:
      normal: {z: 3, min_den: 20, min_change: 12}
      emergency: {z: 2.5, min_den: 15, min_change: 8}
  - rule: drop
    levels: [community, street]
    params:
      normal: {points: 10, min_den: 20}
      emergency: {points: 8}
inputs: [grid_events]
definition:
  zh: >-
    按期结案数 / (应结案数 − 缓办数) × 100%。应结案数：处置时限（deadline_at）落在统计期内的事件；
    缓办（挂账，deferred 或状态 deferred）、不予受理（rejected）和合并（merged）的事件不计入。
    按期结案：状态为结案或已评价，且结案时间不晚于处置时限。统计期尚未结束时只计处置时限已过的事件。
  en: >-
    Events closed on time / (events due − deferred events) × 100%. Due: the deadline (deadline_at)
    falls in the period; deferred (挂账: deferred flag or status deferred), rejected and merged events
    are left out. On time: status closed or evaluated with closed_at at or before deadline_at. While
    the period runs, only events whose deadline has passed count.
  source: >-
    DOMAIN.md §9 #1 (事件按期办结率), after the Jinhua formula 按期结案数 / (应结案数 − 缓办数);
    case lifecycle 立案→派遣→处置→核查→结案 of GB/T 30428 / CJJ/T 106.
*/
-- 应结: events due in [period_start, as_of), not deferred, rejected or merged.
WITH due AS (
  SELECT grid_code,
         status IN ('closed', 'evaluated') AND closed_at IS NOT NULL AND closed_at <= deadline_at AS on_time
  FROM grid_events
  WHERE deadline_at >= $period_start
    AND deadline_at < $as_of
    AND NOT coalesce(deferred, false)
    AND status NOT IN ('deferred', 'rejected', 'merged')
)
SELECT grid_code AS area_code,
       CAST($period_start AS TIMESTAMPTZ) AS period_start,
       CAST(count(*) FILTER (WHERE on_time) AS DOUBLE) AS numerator,
       CAST(count(*) AS DOUBLE) AS denominator
FROM due
GROUP BY grid_code
