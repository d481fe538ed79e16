/*
name: event_repeat_rate
title:
  zh: 重复事件率
  en: Repeat-event rate of grid events
kind: indicator
schedule:
  normal: "55 1 * * *"
  emergency: "0 * * * *"
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
    重复事件数 / 统计期内上报的事件数 × 100%，按上报时间（reported_at）落在统计期内（统计期未结束时
    为计算时刻前）统计，合并和不予受理的事件不计。重复事件：此前 30 天内（30×24 小时，含 30 天整）
    已有同一大类、小类的事件在 50 米以内结案（状态为结案或已评价，结案时间早于本事件上报），该事件
    可在任一网格。距离按坐标的球面距离（半径 6371 km）计；没有坐标的事件不能判定，计入分母不计入
    分子。事件没有楼栋编码，故只用 50 米规则。结案后很快再发提示虚假结案。
  en: >-
    Repeat events / events reported in the period × 100%, by reported_at in the period (before
    the computation while it runs); merged and rejected events are left out. A repeat: an event of
    the same major and minor category within 50 m was closed (status closed or evaluated) in the
    30 days (30 × 24 hours, inclusive) before this one was reported, in any grid. Distance is the
    great-circle distance of the coordinates (radius 6371 km); an event without coordinates cannot
    be judged and counts in the denominator only. Events carry no building code, so only the
    50 m rule applies. A repeat soon after a closure suggests a fake closure.
  source: >-
    DOMAIN.md §9 #6 (重复事件率 = events with same category ∧ same building (or ≤ 50 m) within 30
    days of a closed one / all events).
*/
-- Coordinates are bucketed in cells of 0.0005° of latitude (55.6 m) by 0.001° of longitude (at
-- least 50 m up to 63° N), so an event within 50 m lies in the same or a neighbouring cell.
WITH reported AS (
  SELECT event_id, grid_code, category_major, coalesce(category_minor, '') AS category_minor,
         lon, lat, reported_at,
         CAST(floor(lat / 0.0005) AS BIGINT) AS cell_lat, CAST(floor(lon / 0.001) AS BIGINT) AS cell_lon
  FROM grid_events
  WHERE reported_at >= $period_start
    AND reported_at < $as_of
    AND status NOT IN ('merged', 'rejected')
),
-- Events closed in the 30 days before any event of the period, once in each of the nine cells
-- around their own.
earlier AS (
  SELECT g.event_id, g.category_major, coalesce(g.category_minor, '') AS category_minor, g.lon, g.lat,
         g.closed_at,
         CAST(floor(g.lat / 0.0005) AS BIGINT) + d.dlat AS cell_lat,
         CAST(floor(g.lon / 0.001) AS BIGINT) + d.dlon AS cell_lon
  FROM grid_events g,
       (SELECT * FROM (VALUES (-1), (0), (1)) a(dlat), (VALUES (-1), (0), (1)) b(dlon)) d
  WHERE g.status IN ('closed', 'evaluated')
    AND g.closed_at >= $period_start - INTERVAL 720 HOUR
    AND g.closed_at < $as_of
    AND g.lon IS NOT NULL
    AND g.lat IS NOT NULL
),
repeats AS (
  SELECT DISTINCT r.event_id
  FROM reported r
  JOIN earlier e
    ON e.category_major = r.category_major
   AND e.category_minor = r.category_minor
   AND e.cell_lat = r.cell_lat
   AND e.cell_lon = r.cell_lon
  WHERE e.event_id <> r.event_id
    AND e.closed_at < r.reported_at
    AND e.closed_at >= r.reported_at - INTERVAL 720 HOUR
    AND 2 * 6371000 * asin(sqrt(
          pow(sin(radians(e.lat - r.lat) / 2), 2)
          + cos(radians(r.lat)) * cos(radians(e.lat)) * pow(sin(radians(e.lon - r.lon) / 2), 2))) <= 50
)
SELECT r.grid_code AS area_code,
       CAST($period_start AS TIMESTAMPTZ) AS period_start,
       CAST(count(p.event_id) AS DOUBLE) AS numerator,
       CAST(count(*) AS DOUBLE) AS denominator
FROM reported r
LEFT JOIN repeats p ON p.event_id = r.event_id
GROUP BY r.grid_code
