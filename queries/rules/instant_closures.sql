/*
name: instant_closures
title:
  zh: 处置人员"秒结"
  en: A handler closing events minutes after dispatch
kind: rule
schedule:
  normal: "10 * * * *"
  emergency: "0-59/15 * * * *"
period: week
severity: warning
records: grid_events
params:
  normal: {max_minutes: 10, min_events: 3, min_share: 0.5}
  emergency: {min_events: 2}
inputs: [grid_events]
definition:
  zh: >-
    一周内，同一处置人员派遣后不到 max_minutes 分钟即结案的事件不少于 min_events 件，且占其本周结案事件的
    min_share 以上。个别随手办（巡查中当场处置）会很快结案，但分散在各处置人员之间；集中在一人身上提示未经
    实际处置即结案（虚假结案）。时长按实际经过时间计（同 event_instant_closure_rate）。
  en: >-
    In a week, one handler closed at least min_events events less than max_minutes minutes after
    dispatch, and they are more than min_share of the events the handler closed that week. A few
    patrol finds handled on the spot close quickly too, but they spread over the handlers; many of
    one handler's suggest events closed without being handled (fabrication). Elapsed time, as in
    event_instant_closure_rate.
  source: >-
    DOMAIN.md §9 #5, anomaly rule "秒结" (closed < 10 minutes after dispatch), per handler.
*/
WITH closed AS (
  SELECT event_id, handler_id, grid_code,
         epoch_us(closed_at) - epoch_us(dispatched_at) < $max_minutes * 60000000 AS instant
  FROM grid_events
  WHERE status IN ('closed', 'evaluated')
    AND handler_id IS NOT NULL
    AND closed_at >= $period_start AND closed_at < $as_of
    AND dispatched_at IS NOT NULL AND closed_at >= dispatched_at
), per_handler AS (
  SELECT handler_id, count(*) AS closed_n, count(*) FILTER (WHERE instant) AS instant_n,
         mode() WITHIN GROUP (ORDER BY substr(grid_code, 1, 12)) AS community,
         list(event_id ORDER BY event_id) FILTER (WHERE instant) AS records
  FROM closed GROUP BY handler_id
)
SELECT handler_id AS subject, community AS area_code,
       CAST(instant_n AS DOUBLE) AS observed, CAST($min_events AS DOUBLE) AS expected,
       format('{} of the {} events handler {} closed this week were closed within {} minutes of dispatch (at most {} expected, and under {}%)',
              instant_n, closed_n, handler_id, CAST($max_minutes AS INTEGER), CAST($min_events AS INTEGER) - 1, CAST($min_share * 100 AS INTEGER)) AS detail,
       records
FROM per_handler
WHERE instant_n >= $min_events AND instant_n > $min_share * closed_n
ORDER BY subject
