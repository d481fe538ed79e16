/*
name: silent_community
title:
  zh: 社区"沉默"（长时间无上报、无走访）
  en: A community gone silent
kind: rule
schedule:
  normal: "45 * * * *"
  emergency: "0-59/15 * * * *"
period: week
severity: warning
records: grid_events
params:
  normal: {min_days: 3, min_expected: 7}
  emergency: {min_days: 1, min_expected: 5}
inputs: [grid_events, door_visits]
definition:
  zh: >-
    社区在本周内（或延续到本周）连续至少 min_days 天既无网格事件上报、也无入户走访，而按其此前四周
    （本周前 14 至 42 天）的日均数，这段时间本应有不少于 min_expected 条（泊松分布下完全无记录的概率
    低于千分之一）。提示网格员未巡查、系统未接入或数据中断。
  en: >-
    The community reported no grid event and logged no visit for at least min_days days in a row
    within (or into) this week, where its daily mean over four earlier weeks (14 to 42 days before
    the week) makes at least min_expected records expected in that time (no record at all then has
    a Poisson probability under one in a thousand). It suggests patrols not done, a system cut off,
    or data not arriving.
  source: >-
    DOMAIN.md §9 data-quality and activity rules; the issue's "a community gone silent".
*/
WITH acts AS (
  SELECT substr(grid_code, 1, 12) AS community, reported_at AS t FROM grid_events
  WHERE reported_at >= $period_start - INTERVAL 42 DAY AND reported_at < $as_of
  UNION ALL
  SELECT substr(grid_code, 1, 12), visited_at FROM door_visits
  WHERE visited_at >= $period_start - INTERVAL 42 DAY AND visited_at < $as_of
), base AS (
  SELECT community, count(*) / 28.0 AS per_day
  FROM acts WHERE t < $period_start - INTERVAL 14 DAY
  GROUP BY community
), gaps AS (
  SELECT community, t AS last_at, lead(t, 1, $as_of) OVER (PARTITION BY community ORDER BY t) AS next_at
  FROM acts
), silent AS (
  SELECT g.community, g.last_at, g.next_at,
         (epoch(g.next_at) - epoch(g.last_at)) / 86400.0 AS days, b.per_day
  FROM gaps g JOIN base b USING (community)
  WHERE g.next_at > $period_start
), longest AS (
  SELECT community, arg_max(last_at, days) AS last_at, max(days) AS days, any_value(per_day) AS per_day
  FROM silent GROUP BY community
)
SELECT community AS subject, community AS area_code,
       CAST(0 AS DOUBLE) AS observed, round(per_day * days, 1) AS expected,
       format('no grid event and no visit for {} days from {}; {} were expected at its rate of {} a day in the four weeks before',
              round(days, 1), strftime(timezone('Asia/Shanghai', last_at), '%Y-%m-%d %H:%M'), round(per_day * days, 1), round(per_day, 1)) AS detail,
       CAST([] AS VARCHAR[]) AS records
FROM longest
WHERE days >= $min_days AND per_day * days >= $min_expected
ORDER BY subject
