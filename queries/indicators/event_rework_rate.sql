/*
name: event_rework_rate
title:
  zh: 事件返工率
  en: Rework rate of grid events
kind: indicator
schedule:
  normal: "35 1 * * *"
  emergency: "0-59/15 * * * *"
grain: [grid, community, street, county, district, gov_unit]
period: month
unit: percent
direction: lower_is_better
thresholds:
  normal: {warn: 10, alert: 20}
min_denominator: 5
inputs: [grid_events]
definition:
  zh: >-
    核查未通过次数 / 处置反馈次数 × 100%，按统计期内结案的事件统计（状态为结案或已评价，结案时间
    落在统计期内，统计期未结束时为计算时刻前）。一件事件核查未通过的次数为其返工次数
    （rework_count，缺失按 0）；每次返工后要再处置一次，所以处置反馈次数为返工次数 + 1。
    只计已结案的事件，它们的返工都已了结；尚在返工中的事件在结案的那个统计期计入。
  en: >-
    Failed verifications / handling reports × 100%, over the events closed in the period (status
    closed or evaluated, closed_at in the period; before the computation while it runs). An
    event's failed verifications are its rework_count (missing counts as 0); each rework is
    followed by one more handling, so its handling reports are rework_count + 1. Only closed
    events count, whose rework is over; an event still in rework counts in the period it closes.
  source: >-
    DOMAIN.md §9 #3 (返工率 = 核查未通过次数 / 处置反馈次数); §6 (a failed verification sends the
    case back for rework; count rework per verify failure).
*/
WITH closed AS (
  SELECT grid_code, CAST(coalesce(rework_count, 0) AS DOUBLE) AS reworks
  FROM grid_events
  WHERE status IN ('closed', 'evaluated')
    AND closed_at >= $period_start
    AND closed_at < $as_of
)
SELECT grid_code AS area_code,
       CAST($period_start AS TIMESTAMPTZ) AS period_start,
       sum(reworks) AS numerator,
       sum(reworks + 1) AS denominator
FROM closed
GROUP BY grid_code
