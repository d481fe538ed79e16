/*
name: shell_cluster
title:
  zh: 同一住所"无法联系"集中（疑似空壳注册）
  en: A cluster of unreachable companies registered at one address
kind: rule
schedule:
  normal: "35 2 * * *"
  emergency: "35 0-23/6 * * *"
period: month
severity: warning
records: market_entities
params:
  normal: {min_unreachable: 3, min_share: 0.5}
inputs: [market_entities, market_inspections]
definition:
  zh: >-
    本月在同一登记住所检查的市场主体中，检查结果为"无法联系"的不少于 min_unreachable 户，且不低于
    min_share。集中在一个住所的失联主体提示批量空壳注册（虚假住所）。
  en: >-
    Of the market entities registered at one address and inspected this month, at least
    min_unreachable could not be reached, at least min_share of them. Unreachable companies
    clustered at one address suggest shell registrations.
  source: >-
    DOMAIN.md §9 #14: '"无法联系" cluster at one address (shell registrations)'.
*/
WITH inspected AS (
  SELECT e.usci, e.reg_address, e.grid_code, bool_or(i.result = 'unreachable') AS unreachable
  FROM market_entities e JOIN market_inspections i ON i.usci = e.usci
  WHERE e.reg_address IS NOT NULL
    AND i.inspected_at >= $period_start AND i.inspected_at < $as_of
  GROUP BY e.usci, e.reg_address, e.grid_code
)
SELECT reg_address AS subject, mode(substr(grid_code, 1, 12)) AS area_code,
       CAST(count(*) FILTER (WHERE unreachable) AS DOUBLE) AS observed, CAST($min_unreachable AS DOUBLE) AS expected,
       format('{} of the {} companies registered at {} and inspected this month could not be reached (fewer than {} expected)',
              count(*) FILTER (WHERE unreachable), count(*), reg_address, CAST($min_unreachable AS INTEGER)) AS detail,
       list(usci ORDER BY usci) FILTER (WHERE unreachable) AS records
FROM inspected
GROUP BY reg_address
HAVING count(*) FILTER (WHERE unreachable) >= $min_unreachable
   AND count(*) FILTER (WHERE unreachable) >= $min_share * count(*)
ORDER BY subject
