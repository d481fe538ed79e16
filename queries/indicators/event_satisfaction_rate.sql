/*
name: event_satisfaction_rate
title:
  zh: 事件回访满意率
  en: Callback satisfaction rate of grid events
kind: indicator
schedule:
  normal: "55 1 * * *"
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
    (满意 + 基本满意) / 回访成功数 × 100%，按统计期内结案（结案时间落在统计期内，统计期未结束时为计算
    时刻前）且已回访的事件统计。回访成功：满意度为满意、基本满意或不满意；未联系上（unreached）和
    尚无满意度的事件不计。表中没有回访时间，以结案时间定统计期。
  en: >-
    (Satisfied + basically satisfied) / events reached at the callback × 100%, over the events
    closed in the period (closed_at in the period; before the computation while it runs) with a
    callback result. Reached: satisfaction satisfied, basic or unsatisfied; unreached events and
    events without a result do not count. The table has no callback time, so the closure time
    places an event in a period.
  source: >-
    DOMAIN.md §9 #21 (满意率 = (satisfied + basic) / called back), applied to grid events, whose
    §5.1 record carries the callback result (回访满意度).
*/
SELECT grid_code AS area_code,
       CAST($period_start AS TIMESTAMPTZ) AS period_start,
       CAST(count(*) FILTER (WHERE satisfaction IN ('satisfied', 'basic')) AS DOUBLE) AS numerator,
       CAST(count(*) AS DOUBLE) AS denominator
FROM grid_events
WHERE closed_at >= $period_start
  AND closed_at < $as_of
  AND satisfaction IN ('satisfied', 'basic', 'unsatisfied')
GROUP BY grid_code
