/*
name: other_name
title: {zh: 名称, en: Name}
kind: indicator
schedule: {normal: "30 1 * * *"}
grain: [grid]
period: day
unit: count
direction: lower_is_better
inputs: [grid_events]
definition: {zh: 说明, en: Explanation, source: a test}
*/
INSERT INTO grid_events SELECT * FROM grid_events
