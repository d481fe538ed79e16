/*
name: visitor_overload
title:
  zh: 走访人员一小时内入户过多
  en: A visitor logging too many households in an hour
kind: rule
schedule:
  normal: "25 * * * *"
  emergency: "10-59/15 * * * *"
period: day
severity: warning
records: door_visits
params:
  normal: {max_per_hour: 12}
inputs: [door_visits]
definition:
  zh: >-
    当天同一走访人员在任意 60 分钟内登记的入户走访超过 max_per_hour 户。一次入户核实信息需要数分钟，
    一小时十余户以上提示未实际入户、集中补录。
  en: >-
    On the day, one visitor logged more than max_per_hour household visits within some 60 minutes.
    A visit that checks a household's details takes minutes; more than a dozen in an hour suggests
    visits entered without going there.
  source: >-
    DOMAIN.md §9 #10, visit authenticity: "> 12 households/hour".
*/
WITH v AS (
  SELECT visit_id, visitor_id, grid_code, visited_at
  FROM door_visits
  WHERE visitor_id IS NOT NULL AND target_type = 'household'
    AND visited_at >= $period_start AND visited_at < $as_of
), w AS (
  SELECT *, count(*) OVER (PARTITION BY visitor_id ORDER BY visited_at
                           RANGE BETWEEN CURRENT ROW AND INTERVAL 3599 SECOND FOLLOWING) AS in_hour
  FROM v
), peak AS (
  SELECT visitor_id, arg_max(visited_at, in_hour) AS hour_from, max(in_hour) AS n
  FROM w GROUP BY visitor_id
)
SELECT p.visitor_id AS subject, mode(substr(v.grid_code, 1, 12)) AS area_code,
       CAST(p.n AS DOUBLE) AS observed, CAST($max_per_hour AS DOUBLE) AS expected,
       format('visitor {} logged {} household visits in the hour from {} (at most {} expected)',
              p.visitor_id, p.n, strftime(timezone('Asia/Shanghai', p.hour_from), '%Y-%m-%d %H:%M'), CAST($max_per_hour AS INTEGER)) AS detail,
       list(v.visit_id ORDER BY v.visit_id) AS records
FROM peak p JOIN v ON v.visitor_id = p.visitor_id AND v.visited_at >= p.hour_from AND v.visited_at < p.hour_from + INTERVAL 1 HOUR
WHERE p.n > $max_per_hour
GROUP BY p.visitor_id, p.n, p.hour_from
ORDER BY subject
