/*
name: event_proactive_discovery_rate
title:
  zh: 事件主动发现率
  en: Proactive discovery rate of grid events
kind: indicator
schedule:
  normal: "50 1 * * *"
  emergency: "0 * * * *"
grain: [grid, community, street, county, district, gov_unit]
period: month
unit: percent
direction: higher_is_better
thresholds:
  normal: {warn: 50, alert: 40}
min_denominator: 5
inputs: [grid_events]
definition:
  zh: >-
    网格员、三长和物业人员主动发现上报的事件数 / 统计期内上报的全部事件数 × 100%，按上报时间
    （reported_at）落在统计期内（统计期未结束时为计算时刻前）统计，合并（merged，重复上报）的事件
    不计。主动发现：来源不是 12345 热线、110 转办或上级交办，且来源为网格员巡查（gridder_patrol）
    或物业（property），或上报人角色为网格员、三长或物业人员。居民自报、视频发现和上述外部渠道
    计入分母、不计入分子。
  en: >-
    Events found and reported by gridders, 三长 (building, unit and courtyard heads) or property
    staff / all events reported in the period × 100%, by reported_at in the period (before the
    computation while it runs); merged events (duplicates) are left out. Proactive: the source is
    not the 12345 hotline, a 110 transfer or a superior's assignment, and either the source is a
    gridder patrol or the property company, or the reporter's role is gridder, three_heads or
    property_staff. Residents' own reports, video and the external channels count in the
    denominator only.
  source: >-
    DOMAIN.md §9 #7 (主动发现率 = events from gridders, 三长 or property staff / all events, incl.
    12345 and 110 transfers).
*/
WITH reported AS (
  SELECT grid_code,
         source NOT IN ('hotline_12345', 'police_110_transfer', 'superior')
           AND (source IN ('gridder_patrol', 'property')
                OR coalesce(reporter_role IN ('gridder', 'three_heads', 'property_staff'), false)) AS proactive
  FROM grid_events
  WHERE reported_at >= $period_start
    AND reported_at < $as_of
    AND status <> 'merged'
)
SELECT grid_code AS area_code,
       CAST($period_start AS TIMESTAMPTZ) AS period_start,
       CAST(count(*) FILTER (WHERE proactive) AS DOUBLE) AS numerator,
       CAST(count(*) AS DOUBLE) AS denominator
FROM reported
GROUP BY grid_code
