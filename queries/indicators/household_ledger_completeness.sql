/*
name: household_ledger_completeness
title:
  zh: 户特征值台账完整率
  en: Completeness of the household ledger
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
inputs: [households]
definition:
  zh: >-
    台账项齐全的户数 / 台账户数 × 100%，按户所在网格、以统计期末（统计期未结束时为计算时刻）的台账
    统计。齐全：有户主证件号（已假名化的 head_id_number_key；证件号校验位在假名化前校验，未通过的
    记录进入死信，不在表中）；有户主联系电话（head_phone_key）；最近核实时间（last_verified_at）在
    统计期末前 12 个月内且不晚于统计期末。房屋编码和人口类型为必填字段，入库前已校验。v1 没有人员
    表，只能按户、按户主计。
  en: >-
    Households whose ledger entry is complete / households in the ledger × 100%, by the
    household's grid, as the ledger stands at the period's end (the computation, while it runs).
    Complete: the head's ID number (pseudonymised, head_id_number_key; its check character is
    verified before pseudonymisation, and failing records go to the dead letters, not the table);
    the head's phone (head_phone_key); last_verified_at within the 12 months before the period's
    end and not after it. Room code and resident type are required fields checked before loading.
    v1 has no person table, so this counts households and their heads only.
  source: >-
    DOMAIN.md §9 #11 (特征值台账完整率 = persons (households) with all mandatory fields valid
    (id_check_ok, room_code, phone, resident_type, tags reviewed ≤ 12 months) / total).
*/
WITH since AS (
  SELECT timezone('Asia/Shanghai', timezone('Asia/Shanghai', CAST($as_of AS TIMESTAMPTZ)) - INTERVAL 12 MONTH) AS t
)
SELECT h.grid_code AS area_code,
       CAST($period_start AS TIMESTAMPTZ) AS period_start,
       CAST(count(*) FILTER (WHERE h.head_id_number_key IS NOT NULL
                               AND h.head_phone_key IS NOT NULL
                               AND h.last_verified_at >= since.t
                               AND h.last_verified_at < $as_of) AS DOUBLE) AS numerator,
       CAST(count(*) AS DOUBLE) AS denominator
FROM households h, since
GROUP BY h.grid_code
