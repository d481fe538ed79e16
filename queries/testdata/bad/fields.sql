/*
name: fields
title: {zh: 字段, en: Fields}
kind: indicator
schedule: {normal: "30 1 * * *"}
grain: [grid, street, grid, town]
period: fortnight
unit: percent
direction: higher_is_better
thresholds:
  normal: {warn: 70, alert: 80}
  emergency: {warn: 90}
min_denominator: five
colour: blue
inputs: []
definition:
  zh: 说明
  en: Explanation
  source: DOMAIN.md §9 #1 (the rest is a comment)
*/
SELECT 1
