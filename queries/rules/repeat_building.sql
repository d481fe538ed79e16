/*
name: repeat_building
title:
  zh: 同一楼栋结案后同类问题反复发生
  en: The same problem reported again at a building after it was closed
kind: rule
schedule:
  normal: "20 * * * *"
  emergency: "5-59/15 * * * *"
period: week
severity: warning
records: grid_events
params:
  normal: {window_days: 28, back_within_days: 5, min_repeats: 3, baseline_days: 364, max_chance: 0.001}
  emergency: {min_repeats: 2, max_chance: 0.01}
inputs: [grid_events]
definition:
  zh: >-
    同一楼栋同类（大类、小类相同）问题，在截至本周末（或当前）的 window_days 天内，于前一件结案后
    back_within_days 天内再次上报不少于 min_repeats 次（其中至少一次在本周），且按该楼栋该类问题此前
    baseline_days 天的常态（其频率折算到 window_days 天的期望值，至少 0.1），泊松分布下出现这么多次的概率
    小于 max_chance。结案后同一问题反复出现，提示前次结案不实（虚假结案）
    或未根治；问题本就多发的楼栋按其自身常态判断，不因常态多发而报警。被驳回、合并的事件不计。
  en: >-
    At one building, the same problem (major and minor category) was reported again within
    back_within_days days after the previous one closed at least min_repeats times in the
    window_days days up to the end of this week (or now), at least once this week, and so often
    that, at that building's usual for that problem over the baseline_days days before (its rate
    scaled to the window, at least 0.1), a Poisson count would reach it with a chance under
    max_chance. The same problem coming back
    after each closure suggests the closures were not real (fake closure) or did not fix it; a
    building where the problem is common is judged by its own usual, not flagged for it.
    Rejected and merged events do not count.
  source: >-
    DOMAIN.md §9 #6, repeat-event rate: "a repeat after closed suggests fake closure".
*/
WITH ev AS (
  SELECT event_id, building_code, category_major, coalesce(category_minor, '') AS minor, grid_code, reported_at, closed_at
  FROM grid_events
  WHERE building_code IS NOT NULL AND status NOT IN ('rejected', 'merged')
    AND reported_at >= $as_of - to_days(CAST($window_days + $baseline_days AS INTEGER)) AND reported_at < $as_of
), repeats AS (
  SELECT e.building_code, e.category_major, e.minor, e.grid_code, e.reported_at, e.event_id AS repeat_id, p.event_id AS earlier_id
  FROM ev e JOIN ev p
    ON p.building_code = e.building_code AND p.category_major = e.category_major AND p.minor = e.minor
   AND p.event_id <> e.event_id AND p.closed_at IS NOT NULL
   AND p.closed_at <= e.reported_at AND e.reported_at < p.closed_at + to_days(CAST($back_within_days AS INTEGER))
  WHERE e.reported_at >= $as_of - to_days(CAST($window_days AS INTEGER))
), per_problem AS (
  SELECT building_code, category_major, minor, mode(substr(grid_code, 1, 12)) AS community,
         count(DISTINCT repeat_id) AS n,
         list_sort(list_distinct(flatten(list([repeat_id, earlier_id])))) AS records
  FROM repeats
  GROUP BY ALL
  HAVING count(DISTINCT repeat_id) >= $min_repeats AND max(reported_at) >= $period_start
), usual AS (
  -- the building's events of the problem before the window, scaled to it
  SELECT building_code, category_major, minor, count(*) * $window_days / $baseline_days AS expected
  FROM ev WHERE reported_at < $as_of - to_days(CAST($window_days AS INTEGER))
  GROUP BY ALL
)
SELECT p.building_code AS subject, p.community AS area_code,
       CAST(p.n AS DOUBLE) AS observed, round(coalesce(u.expected, 0), 2) AS expected,
       format('{} events of problem {}-{} at building {} came within {} days after the previous one there was closed, in the {} days to {}; its usual for that problem is {} in as many days',
              p.n, p.category_major, p.minor, p.building_code, CAST($back_within_days AS INTEGER), CAST($window_days AS INTEGER),
              strftime(timezone('Asia/Shanghai', $as_of), '%Y-%m-%d'), round(coalesce(u.expected, 0), 1)) AS detail,
       p.records
FROM per_problem p LEFT JOIN usual u USING (building_code, category_major, minor)
-- P(N ≥ n) for a Poisson count of mean λ: 1 − Σ_{k<n} e^(−λ) λ^k / k!
WHERE 1 - list_sum(list_transform(range(CAST(p.n AS BIGINT)),
        k -> exp(-greatest(coalesce(u.expected, 0), 0.1) + k * ln(greatest(coalesce(u.expected, 0), 0.1)) - lgamma(k + 1)))) < $max_chance
QUALIFY row_number() OVER (PARTITION BY p.building_code ORDER BY p.n DESC, p.category_major, p.minor) = 1
ORDER BY subject
