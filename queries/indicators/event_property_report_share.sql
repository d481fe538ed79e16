/*
name: event_property_report_share
title:
  zh: 物业人员上报占比
  en: Share of grid events reported by property staff
kind: indicator
schedule:
  normal: "50 1 * * *"
grain: [grid, community, street, county, district, gov_unit]
period: month
unit: percent
direction: higher_is_better
min_denominator: 5
inputs: [grid_events]
definition:
  zh: >-
    物业人员上报的事件数 / 统计期内上报的全部事件数 × 100%，按上报时间（reported_at）落在统计期内
    （统计期未结束时为计算时刻前）统计，合并（merged，重复上报）的事件不计。物业人员上报：上报人
    角色为物业人员（property_staff），或来源为物业（property）。衡量"社区+物业"模式是否运转。
  en: >-
    Events reported by property staff / all events reported in the period × 100%, by reported_at
    in the period (before the computation while it runs); merged events (duplicates) are left
    out. By property staff: the reporter's role is property_staff, or the source is property.
    Measures whether the 社区+物业 (community plus property company) model works.
  source: >-
    DOMAIN.md §9, additional policy-specific measures (物业人员上报占比 = events reported by property
    staff / all events); §5.4 property_staff_role.
*/
WITH reported AS (
  SELECT grid_code,
         source = 'property' OR coalesce(reporter_role = 'property_staff', false) AS by_property
  FROM grid_events
  WHERE reported_at >= $period_start
    AND reported_at < $as_of
    AND status <> 'merged'
)
SELECT grid_code AS area_code,
       CAST($period_start AS TIMESTAMPTZ) AS period_start,
       CAST(count(*) FILTER (WHERE by_property) AS DOUBLE) AS numerator,
       CAST(count(*) AS DOUBLE) AS denominator
FROM reported
GROUP BY grid_code
