/*
name: syntax
title:
  zh: 语法
   en: Syntax
kind: indicator
*/
SELECT 1
