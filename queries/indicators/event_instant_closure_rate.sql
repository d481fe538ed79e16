/*
name: event_instant_closure_rate
title:
  zh: 事件"秒结"率
  en: Share of grid events closed instantly after dispatch
kind: indicator
schedule:
  normal: "40 1 * * *"
  emergency: "0-59/15 * * * *"
grain: [grid, community, street, county, district, gov_unit]
period: month
unit: percent
direction: lower_is_better
thresholds:
  normal: {warn: 2, alert: 5}
min_denominator: 5
inputs: [grid_events]
definition:
  zh: >-
    派遣后不到 10 分钟即结案的事件数 / 统计期内结案的事件数 × 100%。结案：状态为结案或已评价，结案
    时间落在统计期内（统计期未结束时为计算时刻前），且有派遣时间、结案不早于派遣。"秒结"提示未经实际
    处置即结案（虚假结案）。时长按实际经过时间计：DOMAIN.md 写作 10 个工作分钟，但那样会把下班前
    派遣、周末结案（实际用了一两天）的事件也算作秒结，故改用经过时间。
  en: >-
    Events closed less than 10 minutes after dispatch / events closed in the period × 100%.
    Closed: status closed or evaluated, closed_at in the period (before the computation while it
    runs), with dispatched_at present and not after closed_at. An instant closure suggests the
    event was closed without being handled (fabrication). The time is elapsed time: DOMAIN.md
    says 10 working minutes, which would also flag an event dispatched just before the end of the
    working day and closed at the weekend, a day or two later, so elapsed time is used instead.
  source: >-
    DOMAIN.md §9 #5, anomaly rule "秒结" (instant closure: closed < 10 minutes after dispatch).
*/
WITH closed AS (
  SELECT grid_code, epoch_us(closed_at) - epoch_us(dispatched_at) < 600000000 AS instant
  FROM grid_events
  WHERE status IN ('closed', 'evaluated')
    AND closed_at >= $period_start
    AND closed_at < $as_of
    AND dispatched_at IS NOT NULL
    AND dispatched_at <= closed_at
)
SELECT grid_code AS area_code,
       CAST($period_start AS TIMESTAMPTZ) AS period_start,
       CAST(count(*) FILTER (WHERE instant) AS DOUBLE) AS numerator,
       CAST(count(*) AS DOUBLE) AS denominator
FROM closed
GROUP BY grid_code
