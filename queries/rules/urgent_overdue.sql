/*
name: urgent_overdue
title:
  zh: 紧急事件超期未结
  en: An urgent event past its deadline and not closed
kind: rule
schedule:
  normal: "0-59/15 * * * *"
  emergency: "0-59/5 * * * *"
period: month
severity: critical
records: grid_events
inputs: [grid_events]
definition:
  zh: >-
    本月上报的紧急事件已过处置时限仍未结案（未驳回、未合并、未缓办）。任何一件都应告警；结案后告警解除。
  en: >-
    An urgent event reported this month is past its deadline and not closed (nor rejected, merged
    or deferred). Each one is an alert; it resolves when the event closes.
  source: >-
    DOMAIN.md §9 #4: "any urgent overdue event is an alert".
*/
SELECT event_id AS subject, substr(grid_code, 1, 12) AS area_code,
       CAST(1 AS DOUBLE) AS observed, CAST(0 AS DOUBLE) AS expected,
       format('urgent event {} ({}) reported {} is not closed, and its deadline was {}',
              event_id, category_major || coalesce('/' || category_minor, ''),
              strftime(timezone('Asia/Shanghai', reported_at), '%Y-%m-%d %H:%M'),
              strftime(timezone('Asia/Shanghai', deadline_at), '%Y-%m-%d %H:%M')) AS detail,
       [event_id] AS records
FROM grid_events
WHERE urgency = 'urgent'
  AND status NOT IN ('closed', 'evaluated', 'rejected', 'merged')
  AND NOT coalesce(deferred, false)
  AND deadline_at < $as_of
  AND reported_at >= $period_start AND reported_at < $as_of
ORDER BY subject
