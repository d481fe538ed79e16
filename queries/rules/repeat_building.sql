/*
name: repeat_building
title:
  zh: 同一楼栋结案后同类问题反复发生
  en: The same problem reported again at a building after it was closed
kind: rule
schedule:
  normal: "20 * * * *"
  emergency: "5-59/15 * * * *"
period: month
severity: warning
records: grid_events
params:
  normal: {window_days: 30, min_repeats: 2}
inputs: [grid_events]
definition:
  zh: >-
    本月同一楼栋有不少于 min_repeats 件事件，与该楼栋同类（大类、小类相同）的前一件事件结案后 window_days
    天内再次上报。结案后同一问题反复出现，提示前次结案不实（虚假结案）或未根治。被驳回、合并的事件不计。
  en: >-
    This month at least min_repeats events at one building were reported within window_days days
    after an event of the same category (major and minor) at that building was closed. The same
    problem coming back after each closure suggests the closures were not real (fake closure) or
    did not fix it. Rejected and merged events do not count.
  source: >-
    DOMAIN.md §9 #6, repeat-event rate: "a repeat after closed suggests fake closure".
*/
WITH ev AS (
  SELECT event_id, building_code, category_major, coalesce(category_minor, '') AS minor, grid_code, reported_at, closed_at
  FROM grid_events
  WHERE building_code IS NOT NULL AND status NOT IN ('rejected', 'merged')
    AND reported_at >= $period_start - to_days(CAST($window_days AS INTEGER)) AND reported_at < $as_of
), repeats AS (
  SELECT e.building_code, e.grid_code, e.event_id AS repeat_id, p.event_id AS earlier_id
  FROM ev e JOIN ev p
    ON p.building_code = e.building_code AND p.category_major = e.category_major AND p.minor = e.minor
   AND p.event_id <> e.event_id AND p.closed_at IS NOT NULL
   AND p.closed_at <= e.reported_at AND e.reported_at < p.closed_at + to_days(CAST($window_days AS INTEGER))
  WHERE e.reported_at >= $period_start
)
SELECT building_code AS subject, mode(substr(grid_code, 1, 12)) AS area_code,
       CAST(count(DISTINCT repeat_id) AS DOUBLE) AS observed, CAST($min_repeats AS DOUBLE) AS expected,
       format('{} events at building {} this month came within {} days after the same problem there was closed (fewer than {} expected)',
              count(DISTINCT repeat_id), building_code, CAST($window_days AS INTEGER), CAST($min_repeats AS INTEGER)) AS detail,
       list_sort(list_distinct(flatten(list([repeat_id, earlier_id])))) AS records
FROM repeats
GROUP BY building_code
HAVING count(DISTINCT repeat_id) >= $min_repeats
ORDER BY subject
