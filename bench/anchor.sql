-- The monthly rating (SPEC sections 2-5) in plain DuckDB SQL, written the way a data engineer
-- would write it instead of using `tiering`: the benchmark's anchor. Exact integers throughout:
-- money in fen, scores in hundredths of a point. Placeholders: {m} is the rating month as
-- year * 12 + month - 1; {billing}, {subscribers} and {out} are quoted file names; {join_month},
-- {bill_month} and {fen} parse the columns as a data engineer would for the extract's types
-- (bench/children.py picks them: text is cut with left/substr, an integer 202611 divided, a
-- date taken apart, decimals and floats multiplied by 100).
-- The last statement returns the thresholds and tier counts as one JSON document.

CREATE TEMP TABLE scored AS
WITH subs AS (
    SELECT subscriber_id,
           {m} - join_month + 1 AS tenure,
           greatest(join_month, {m} - 12) AS window_start,
           lower(trim(status)) = 'active'
               AND coalesce(lower(trim(line_type)), '') IN ('', 'personal')
               AND coalesce(lower(trim(billed_in_month)), '') IN ('', 'true', 't', 'yes', 'y', '1')
               AS flags_ok
    FROM (SELECT *, {join_month} AS join_month FROM read_parquet({subscribers}))
),
billed AS (
    -- A young line's window starts at its join month, so the window is per line.
    SELECT b.subscriber_id, CAST(sum({fen}) AS BIGINT) AS fen
    FROM read_parquet({billing}) b JOIN subs s USING (subscriber_id)
    WHERE {bill_month} BETWEEN s.window_start AND {m} - 1
    GROUP BY b.subscriber_id
),
arpu AS (
    -- Months without a row count 0, so divide by the window length, not the rows.
    -- Half away from zero on the magnitude: DuckDB's // truncates toward zero.
    SELECT s.subscriber_id, s.tenure,
           sign(b.fen) * ((abs(b.fen) * 2 + 100 * ({m} - s.window_start))
                          // (200 * ({m} - s.window_start))) AS arpu_yuan
    FROM subs s JOIN billed b USING (subscriber_id)  -- no row in the window: not rated
    WHERE s.tenure >= 7 AND s.flags_ok
)
-- The score is computed before the outer join: greatest() skips nulls, so
-- greatest(NULL, 0) would give an unrated line a score of 0.
SELECT s.subscriber_id, a.score_x100
FROM subs s LEFT JOIN (
    SELECT subscriber_id,
           greatest(arpu_yuan, 0) * CASE
               WHEN tenure >= 121 THEN 150
               WHEN tenure >= 61 THEN 140
               WHEN tenure >= 37 THEN 130
               WHEN tenure >= 25 THEN 120
               WHEN tenure >= 13 THEN 110
               ELSE 100
           END AS score_x100
    FROM arpu
) a USING (subscriber_id);

CREATE TEMP TABLE cuts AS
WITH ranked AS (
    SELECT score_x100, row_number() OVER (ORDER BY score_x100 DESC) AS rank
    FROM scored WHERE score_x100 IS NOT NULL
),
population AS (SELECT count(*) AS n FROM scored WHERE score_x100 IS NOT NULL),
shares(tier, pct) AS (VALUES (5, 5), (4, 15), (3, 30), (2, 70)),
wanted AS (SELECT tier, (pct * n + 99) // 100 AS rank FROM shares, population)  -- ceil(p * N)
SELECT w.tier, w.rank, r.score_x100 AS raw_x100,
       10 * ((r.score_x100 + 500) // 1000) AS rounded  -- to tens of points, half up (C >= 0)
FROM wanted w JOIN ranked r USING (rank);

COPY (
    SELECT s.subscriber_id, s.score_x100,
           CASE WHEN s.score_x100 IS NOT NULL AND t.t5 IS NOT NULL THEN
               1 + CAST(s.score_x100 >= 100 * t.t2 AS INTEGER)
                 + CAST(s.score_x100 >= 100 * t.t3 AS INTEGER)
                 + CAST(s.score_x100 >= 100 * t.t4 AS INTEGER)
                 + CAST(s.score_x100 >= 100 * t.t5 AS INTEGER)
           END AS tier
    FROM scored s,
         (SELECT max(rounded) FILTER (WHERE tier = 5) AS t5,
                 max(rounded) FILTER (WHERE tier = 4) AS t4,
                 max(rounded) FILTER (WHERE tier = 3) AS t3,
                 max(rounded) FILTER (WHERE tier = 2) AS t2 FROM cuts) t
) TO {out} (FORMAT parquet);

SELECT json_object(
    'rated', (SELECT count(*) FROM scored WHERE score_x100 IS NOT NULL),
    'thresholds', (SELECT json_group_array(json_object(
                       'tier', tier, 'rank', rank, 'raw_x100', raw_x100, 'rounded', rounded))
                   FROM cuts),
    'tiers', (SELECT json_group_object(tier, n) FROM (
                  SELECT tier, count(*) AS n FROM read_parquet({out})
                  WHERE tier IS NOT NULL GROUP BY tier))
);
