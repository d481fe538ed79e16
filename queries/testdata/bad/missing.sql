/*
name: missing
title: {zh: 缺}
kind: indicator
*/
SELECT 1
