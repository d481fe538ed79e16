-- name: no_header
SELECT 1
