/*
name: door_visit_off_hours_rate
title:
  zh: 非正常时段走访占比
  en: Share of door visits outside 07:00–21:00
kind: indicator
schedule:
  normal: "20 2 * * *"
grain: [grid, community, street, county, district, gov_unit]
period: month
unit: percent
direction: lower_is_better
thresholds:
  normal: {warn: 5, alert: 10}
min_denominator: 5
inputs: [door_visits]
definition:
  zh: >-
    走访时间（Asia/Shanghai）早于 07:00 或晚于 21:00 的走访记录数 / 统计期内的走访记录数 × 100%，按
    记录的网格、走访时间落在统计期内（统计期未结束时为计算时刻前）统计，所有对象类型和结果都计；
    07:00:00 和 21:00:00 本身算正常时段。这是走访真实性异常（DOMAIN.md §9 #10）中可由现有字段计算的
    一项：走访人标识、走访时长和楼栋坐标不在 v1 的表中，每小时户数和定位距离两项规则无法计算。
  en: >-
    Door visits whose time (Asia/Shanghai) is before 07:00 or after 21:00 / door visits in the
    period × 100%, by the record's grid and visited_at in the period (before the computation while
    it runs), whatever the target type and outcome; 07:00:00 and 21:00:00 themselves are within
    hours. This is the one visit-authenticity rule (DOMAIN.md §9 #10) the v1 columns allow: the
    visitor's identity, visit durations and building coordinates are not in the tables, so the
    visits-per-hour and GPS-distance rules cannot be computed.
  source: >-
    DOMAIN.md §9 #10 (走访真实性异常: visits outside 07:00–21:00); §5.1 visit (visited_at
    07:00–21:00 typical, flag outliers).
*/
WITH visits AS (
  SELECT grid_code, CAST(timezone('Asia/Shanghai', visited_at) AS TIME) AS local_time
  FROM door_visits
  WHERE visited_at >= $period_start
    AND visited_at < $as_of
)
SELECT grid_code AS area_code,
       CAST($period_start AS TIMESTAMPTZ) AS period_start,
       CAST(count(*) FILTER (WHERE local_time < TIME '07:00:00' OR local_time > TIME '21:00:00') AS DOUBLE) AS numerator,
       CAST(count(*) AS DOUBLE) AS denominator
FROM visits
GROUP BY grid_code
