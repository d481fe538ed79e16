/*
name: store_ledger_completeness
title:
  zh: 十小门店台账完整率
  en: Completeness of the small-shop ledger
kind: indicator
schedule:
  normal: "15 2 * * *"
grain: [grid, community, street, county, district, gov_unit]
period: month
unit: percent
direction: higher_is_better
thresholds:
  normal: {warn: 95, alert: 90}
min_denominator: 5
inputs: [stores]
definition:
  zh: >-
    台账项齐全的门店数 / 台账中的门店数 × 100%，按门店所在网格、以统计期末（统计期未结束时为计算
    时刻）的台账统计。齐全：有联系人电话（contact_phone_key）；有统一社会信用代码，或特征值中有无照
    标记 unlicensed；最近一次消防检查在统计期末前 12 个月内（不晚于统计期末）；特征值已登记
    （features 不为空值，空列表表示已登记无特征）。类别和位置（网格）为必填字段，入库前已校验；信用
    代码的校验位也已在入库前校验（未通过的记录进入死信，不在表中）。
  en: >-
    Shops whose ledger entry is complete / shops in the ledger × 100%, by the shop's grid, as the
    ledger stands at the period's end (the computation, while it runs). Complete: a contact phone
    (contact_phone_key); a credit code, or the tag unlicensed among its features (无照); a fire
    check in the 12 months before the period's end (and not after it); features recorded (not
    NULL; an empty list records none). Category and location (grid) are required fields checked
    before loading, and so is the credit code's check character (failing records go to the dead
    letters, not the table).
  source: >-
    DOMAIN.md §9 #12 (十小门店台账完整率 = stores with category, location, contact, valid USCI (or 无照
    flag), fire check ≤ 12 months, features / stores in ledger); §5.3 store; §7 shop tags (有照/无照).
*/
WITH since AS (
  SELECT CAST(timezone('Asia/Shanghai', CAST($as_of AS TIMESTAMPTZ)) - INTERVAL 12 MONTH AS DATE) AS d
)
SELECT s.grid_code AS area_code,
       CAST($period_start AS TIMESTAMPTZ) AS period_start,
       CAST(count(*) FILTER (WHERE s.contact_phone_key IS NOT NULL
                               AND (s.usci IS NOT NULL OR coalesce(list_contains(s.features, 'unlicensed'), false))
                               AND s.last_fire_check_on >= since.d
                               AND timezone('Asia/Shanghai', CAST(s.last_fire_check_on AS TIMESTAMP)) < $as_of
                               AND s.features IS NOT NULL) AS DOUBLE) AS numerator,
       CAST(count(*) AS DOUBLE) AS denominator
FROM stores s, since
GROUP BY s.grid_code
