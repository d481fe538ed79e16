/*
name: store_suspected_unlicensed_rate
title:
  zh: 门店疑似无照率
  en: Small shops suspected of trading without a licence
kind: indicator
schedule:
  normal: "25 2 * * *"
grain: [grid, community, street, county, district, gov_unit]
period: month
unit: percent
direction: lower_is_better
thresholds:
  normal: {warn: 5, alert: 10}
min_denominator: 5
inputs: [stores, market_entities]
definition:
  zh: >-
    疑似无照门店数 / 门店台账中的门店数 × 100%，按门店所在网格、以当前的门店台账和市场主体库统计
    （两者都没有历史版本）。疑似无照：门店没有统一社会信用代码，或其代码对应的市场主体已注销
    （cancelled）或吊销（revoked）。代码不在本地市场主体库中的门店（可能在外地登记）和主体已迁出的
    门店不算疑似无照，但也不算匹配（见门店主体匹配率）。
  en: >-
    Shops suspected of trading without a licence / shops in the ledger × 100%, by the shop's
    grid, on the shop ledger and the market-entity register as they stand (neither keeps
    history). Suspected: the shop has no credit code (USCI), or the market entity of its code is
    cancelled or revoked. Shops whose code the local register lacks (perhaps registered
    elsewhere) or whose entity moved out are not suspected, though not matched either (see
    store_entity_match_rate).
  source: >-
    DOMAIN.md §9 #13 (疑似无照 = no USCI, or USCI cancelled/revoked; grid-level rate > peer).
*/
SELECT s.grid_code AS area_code,
       CAST($period_start AS TIMESTAMPTZ) AS period_start,
       CAST(count(*) FILTER (WHERE s.usci IS NULL OR m.reg_status IN ('cancelled', 'revoked')) AS DOUBLE) AS numerator,
       CAST(count(*) AS DOUBLE) AS denominator
FROM stores s
LEFT JOIN market_entities m ON m.usci = s.usci
GROUP BY s.grid_code
