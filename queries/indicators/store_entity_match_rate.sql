/*
name: store_entity_match_rate
title:
  zh: 门店主体匹配率
  en: Small shops matched to an active market entity
kind: indicator
schedule:
  normal: "25 2 * * *"
grain: [grid, community, street, county, district, gov_unit]
period: month
unit: percent
direction: higher_is_better
min_denominator: 5
inputs: [stores, market_entities]
definition:
  zh: >-
    统一社会信用代码与一个存续（active）市场主体相符的门店数 / 门店台账中的门店数 × 100%，按门店
    所在网格、以当前的门店台账和市场主体库统计（两者都没有历史版本）。没有信用代码、代码不在市场主体
    库中，或主体已注销、吊销、迁出的门店都算未匹配。
  en: >-
    Shops whose credit code (USCI) matches an active market entity / shops in the ledger × 100%,
    by the shop's grid, on the shop ledger and the market-entity register as they stand (neither
    keeps history). Shops without a credit code, with one the register lacks, or whose entity is
    cancelled, revoked or moved out are unmatched.
  source: >-
    DOMAIN.md §9 #13 (门店主体匹配率 = stores whose USCI matches an active market_entity / stores).
*/
SELECT s.grid_code AS area_code,
       CAST($period_start AS TIMESTAMPTZ) AS period_start,
       CAST(count(*) FILTER (WHERE m.reg_status = 'active') AS DOUBLE) AS numerator,
       CAST(count(*) AS DOUBLE) AS denominator
FROM stores s
LEFT JOIN market_entities m ON m.usci = s.usci
GROUP BY s.grid_code
