/*
name: cancelled_store_visited
title:
  zh: 已注销主体的门店仍按正常经营走访
  en: A store whose company is cancelled still visited as operating
kind: rule
schedule:
  normal: "30 * * * *"
  emergency: "15-59/15 * * * *"
period: week
severity: warning
records: door_visits
inputs: [door_visits, stores, market_entities]
definition:
  zh: >-
    本周对门店的走访结果为"已见面"（正常经营），而该门店登记的统一社会信用代码对应的市场主体已注销或吊销，
    且走访不早于其登记状态日期（status_on；登记机关未给出时取该记录的时间）。提示无照经营，或门店台账与市场主体信息未同步。
  en: >-
    This week a store was visited and met (operating), while the market entity of the credit code
    on its ledger is cancelled or revoked, and the visit came on or after the date it took that
    status (status_on; the time of its record where the registry gives none). It suggests trading without a licence, or a store ledger out of step with the
    registry.
  source: >-
    DOMAIN.md §9 #13: "any store with a cancelled/revoked USCI that is still visited as operating".
*/
SELECT s.store_id AS subject, mode(substr(v.grid_code, 1, 12)) AS area_code,
       CAST(count(*) AS DOUBLE) AS observed, CAST(0 AS DOUBLE) AS expected,
       format('store {} was met operating on {} visit(s) this week, and its company {} is {}',
              s.store_id, count(*), any_value(e.usci), any_value(e.reg_status)) AS detail,
       list(v.visit_id ORDER BY v.visit_id) AS records
FROM door_visits v
JOIN stores s ON s.store_id = v.target_id
JOIN market_entities e ON e.usci = s.usci
WHERE v.target_type = 'store' AND v.outcome = 'met'
  AND e.reg_status IN ('cancelled', 'revoked')
  AND CAST(timezone('Asia/Shanghai', v.visited_at) AS DATE) >= coalesce(e.status_on, CAST(timezone('Asia/Shanghai', e.updated_at) AS DATE))
  AND v.visited_at >= $period_start AND v.visited_at < $as_of
GROUP BY s.store_id
ORDER BY subject
