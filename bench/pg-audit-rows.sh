#!/usr/bin/env bash
# PostgreSQL's own cost per audit record, for each candidate shape of the `audit` table.
#
# Every STS/IAM call commits one CloudTrail record; `keyless serve --database postgres://…` batches
# them and inserts each batch with one `INSERT … SELECT * FROM UNNEST(…)`. This script replays real
# records the same way (batches of 32, one transaction each, synchronous_commit=on) into each
# variant of the table (its own schema, filled with PREFILL records and checkpointed first) and
# prints per measured record: the CPU of the backend doing the inserts (its /proc/self/schedstat,
# read by the backend itself), the CPU of the other PostgreSQL processes (WAL writer,
# checkpointer, autovacuum), the WAL written, WAL records and full-page images (pg_stat_wal), the
# indexes' size at the end, and `busy`: how many cores the rest of the machine used meanwhile.
# CPU time grows when the other core is busy (shared caches): compare quiet runs; the summary at
# the end gives the least per variant over runs with busy < 0.5.
#
#   bash bench/pg-audit-rows.sh                 the default variants, both flavours
#   VARIANTS="v1 c4p" FLAVORS=varied REPEAT=3 bash bench/pg-audit-rows.sh
#
#   SRC      SQLite file with an `audit` table to take records from (default /tmp/bd/keyless.db,
#            a `keyless serve --data` database after bench/load.sh); absent: synthetic records of
#            the same shape (1.5 KB AssumeRoleWithWebIdentity records, UUID v4 request ids)
#   ROWS     records measured per variant (default 30000)
#   PREFILL  records inserted before, then a CHECKPOINT, so the measured ones pay the full-page
#            images of a table in use (default 60000)
#   FLAVORS  `real` (the records' own session names and subjects: the benchmark's, one each) and/or
#            `varied` (a session name per four calls, subjects across 97 repositories), default both
#   VARIANTS which of the variants below (default: all but the single-index ones i1..i6 and the
#            other combinations tried, c1..c3)
#   REPEAT   rounds over all variants (default 1)
#   BATCH    records per transaction (default 32)
#   PAUSE    seconds of rest before each measurement, for whatever else runs (default 1)
#   QUIET=1  also wait (up to 5 minutes) until the machine is idle before each measurement
#   WAL_COMPRESSION  sets wal_compression (off, pglz, lz4, zstd) for the measured inserts
#   WORK     scratch directory (default /tmp/pg-audit-rows); KEEP=1 keeps the schemas
# PostgreSQL comes from scripts/ci-postgres.sh. Work happens in schemas `kb` and `kv_*`, dropped at
# the end unless KEEP=1.
set -euo pipefail
REPO=$(cd "$(dirname "$0")/.." && pwd)
SRC=${SRC:-/tmp/bd/keyless.db}
ROWS=${ROWS:-30000}
PREFILL=${PREFILL:-60000}
FLAVORS=${FLAVORS:-real varied}
REPEAT=${REPEAT:-1}
BATCH=${BATCH:-32}
WORK=${WORK:-/tmp/pg-audit-rows}
mkdir -p "$WORK"
eval "$(bash "$REPO/scripts/ci-postgres.sh")"
URL=$KEYLESS_TEST_POSTGRES_URL
PSQL=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)/psql
psql_() { PGOPTIONS="-c client_min_messages=warning" "$PSQL" -X -q -v ON_ERROR_STOP=1 "$URL" "$@"; }

# --- the records -------------------------------------------------------------------------------
total=$((ROWS + PREFILL))
csv="$WORK/rows-$total.csv"
if [ ! -s "$csv" ]; then
  python3 - "$SRC" "$csv" "$total" <<'PY'
import csv, json, os, sqlite3, sys, uuid
src, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
w = csv.writer(open(out, "w", newline=""))
def synthetic():
    t = 1796299547
    for k in range(n):
        rid = str(uuid.uuid4())
        rec = json.dumps({"eventVersion": "1.08", "userIdentity": {"type": "WebIdentityUser",
            "principalId": "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com:sts.amazonaws.com:repo:acme/app:ref:refs/heads/main",
            "userName": "repo:acme/app:ref:refs/heads/main"}, "eventTime": "2026-12-03T12:05:47Z",
            "eventSource": "sts.amazonaws.com", "eventName": "AssumeRoleWithWebIdentity",
            "filler": "x" * 900, "requestID": rid, "eventID": str(uuid.uuid4())}, separators=(",", ":"))
        yield t + k // 10000, "bench", "repo:acme/app:ref:refs/heads/main", 0, rec
if os.path.exists(src):
    c = sqlite3.connect(f"file:{src}?mode=ro", uri=True)
    rows = c.execute("SELECT time, session_name, subject, denied, record FROM audit "
                     "WHERE session_name IS NOT NULL ORDER BY id LIMIT ?", (n,))
else:
    rows = synthetic()
k = 0
for t, s, sub, d, rec in rows:
    w.writerow([k, t, s, sub, "t" if d else "f", rec, json.loads(rec).get("requestID")])
    k += 1
if k < n:
    sys.exit(f"only {k} records with a session name in {src}")
PY
fi
psql_ <<SQL
DROP SCHEMA IF EXISTS kb CASCADE;
CREATE SCHEMA kb;
CREATE TABLE kb.stage (n int PRIMARY KEY, time bigint, session_name text, subject text,
                       denied boolean, record text, request_id text);
\copy kb.stage FROM '$csv' CSV
CREATE TABLE kb.rows AS
  SELECT 'real' AS flavor, * FROM kb.stage
  UNION ALL
  SELECT 'varied', n, time, 'gha-' || (7000000000 + n / 4),
         'repo:acme/service-' || (n % 97) || ':ref:refs/heads/main', denied, record, request_id
  FROM kb.stage;
-- Stored uncompressed, so that reading a batch back costs little next to inserting it (the server
-- parses the same arrays from the wire instead).
CREATE TABLE kb.batches (flavor text, b int, times bigint[], sessions text[], subjects text[],
                         denied boolean[], records text[], rids text[]);
ALTER TABLE kb.batches ALTER COLUMN records SET STORAGE EXTERNAL;
INSERT INTO kb.batches
  SELECT flavor, n / $BATCH AS b,
         array_agg(time ORDER BY n) AS times, array_agg(session_name ORDER BY n) AS sessions,
         array_agg(subject ORDER BY n) AS subjects, array_agg(denied ORDER BY n) AS denied,
         array_agg(record ORDER BY n) AS records, array_agg(request_id ORDER BY n) AS rids
  FROM kb.rows WHERE n >= $PREFILL GROUP BY flavor, n / $BATCH;
ALTER TABLE kb.batches ADD PRIMARY KEY (flavor, b);
SQL

# --- the variants ------------------------------------------------------------------------------
# Each: the table and its indexes (in the variant's own schema), and the statement inserting one
# batch from the arrays r.times, r.sessions, r.subjects, r.denied, r.records, r.rids.
TABLE="CREATE TABLE audit (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    time BIGINT NOT NULL, session_name TEXT, subject TEXT, denied BOOLEAN NOT NULL,
    record TEXT NOT NULL, request_id TEXT);"
INSERT="INSERT INTO audit (time, session_name, subject, denied, record, request_id)
    SELECT * FROM UNNEST(r.times, r.sessions, r.subjects, r.denied, r.records, r.rids)"
declare -A DDL SQL NOTE
v() { NOTE[$1]=$2; DDL[$1]=$3; SQL[$1]=$4; }

v v00 "reading the batches only (the harness's own cost)" \
  "$TABLE" "PERFORM count(*) FROM UNNEST(r.times, r.sessions, r.subjects, r.denied, r.records, r.rids) AS u(a, b, c, d, e, f) WHERE length(e) > 0"
v v0 "heap and identity key only (floor)" \
  "$TABLE" "$INSERT"
v v1 "shipped until now: btree time, session_name, subject, unique request_id" \
  "$TABLE CREATE INDEX ON audit (time); CREATE INDEX ON audit (session_name);
   CREATE INDEX ON audit (subject); CREATE UNIQUE INDEX audit_request_id ON audit (request_id);" \
  "$INSERT ON CONFLICT (request_id) DO NOTHING"
v v1p "v1, plain INSERT (no ON CONFLICT): the cost of speculative insertion" \
  "${DDL[v1]}" "$INSERT"
v v2 "v1 with time as BRIN" \
  "$TABLE CREATE INDEX ON audit USING brin (time); CREATE INDEX ON audit (session_name);
   CREATE INDEX ON audit (subject); CREATE UNIQUE INDEX audit_request_id ON audit (request_id);" \
  "$INSERT ON CONFLICT (request_id) DO NOTHING"
v v3 "v2, session_name and subject by 64-bit hash (expression btree)" \
  "$TABLE CREATE INDEX ON audit USING brin (time);
   CREATE INDEX ON audit (hashtextextended(session_name, 0));
   CREATE INDEX ON audit (hashtextextended(subject, 0));
   CREATE UNIQUE INDEX audit_request_id ON audit (request_id);" \
  "$INSERT ON CONFLICT (request_id) DO NOTHING"
v v4 "v2, text indexes with COLLATE \"C\" (memcmp, no strcoll)" \
  "$TABLE CREATE INDEX ON audit USING brin (time); CREATE INDEX ON audit (session_name COLLATE \"C\");
   CREATE INDEX ON audit (subject COLLATE \"C\");
   CREATE UNIQUE INDEX audit_request_id ON audit (request_id COLLATE \"C\");" \
  "$INSERT ON CONFLICT (request_id COLLATE \"C\") DO NOTHING"
v v5 "v2, request id as uuid (16 bytes) in a unique btree" \
  "${TABLE/request_id TEXT/request_id UUID} CREATE INDEX ON audit USING brin (time);
   CREATE INDEX ON audit (session_name); CREATE INDEX ON audit (subject);
   CREATE UNIQUE INDEX audit_request_id ON audit (request_id);" \
  "INSERT INTO audit (time, session_name, subject, denied, record, request_id)
    SELECT * FROM UNNEST(r.times, r.sessions, r.subjects, r.denied, r.records, r.rids::uuid[])
    ON CONFLICT (request_id) DO NOTHING"
v v6 "v2, request id unique through a hash-index exclusion constraint" \
  "$TABLE CREATE INDEX ON audit USING brin (time); CREATE INDEX ON audit (session_name);
   CREATE INDEX ON audit (subject);
   ALTER TABLE audit ADD CONSTRAINT audit_request_id EXCLUDE USING hash (request_id WITH =);" \
  "$INSERT ON CONFLICT DO NOTHING"
v v7 "v2, unique (time, request_id) instead of request_id alone (append-mostly; not exactly-once across times)" \
  "$TABLE CREATE INDEX ON audit USING brin (time); CREATE INDEX ON audit (session_name);
   CREATE INDEX ON audit (subject); CREATE UNIQUE INDEX audit_request_id ON audit (time, request_id);" \
  "$INSERT ON CONFLICT (time, request_id) DO NOTHING"
v v8 "v2, session_name and subject indexes partial (IS NOT NULL)" \
  "$TABLE CREATE INDEX ON audit USING brin (time);
   CREATE INDEX ON audit (session_name) WHERE session_name IS NOT NULL;
   CREATE INDEX ON audit (subject) WHERE subject IS NOT NULL;
   CREATE UNIQUE INDEX audit_request_id ON audit (request_id);" \
  "$INSERT ON CONFLICT (request_id) DO NOTHING"
v v9 "v2, record compressed inline (lz4, toast_tuple_target=128)" \
  "$TABLE ALTER TABLE audit ALTER COLUMN record SET COMPRESSION lz4;
   ALTER TABLE audit SET (toast_tuple_target = 128);
   CREATE INDEX ON audit USING brin (time); CREATE INDEX ON audit (session_name);
   CREATE INDEX ON audit (subject); CREATE UNIQUE INDEX audit_request_id ON audit (request_id);" \
  "$INSERT ON CONFLICT (request_id) DO NOTHING"
v c1 "candidate: BRIN time, partial hash-expression session/subject, hash exclusion on request_id" \
  "$TABLE CREATE INDEX ON audit USING brin (time) WITH (autosummarize = on);
   CREATE INDEX ON audit (hashtextextended(session_name, 0)) WHERE session_name IS NOT NULL;
   CREATE INDEX ON audit (hashtextextended(subject, 0)) WHERE subject IS NOT NULL;
   ALTER TABLE audit ADD CONSTRAINT audit_request_id EXCLUDE USING hash (request_id WITH =);" \
  "$INSERT ON CONFLICT DO NOTHING"
v c1p "c1, plain INSERT" "${DDL[c1]}" "$INSERT"
v c2 "c1 with partial text btrees for session/subject" \
  "$TABLE CREATE INDEX ON audit USING brin (time) WITH (autosummarize = on);
   CREATE INDEX ON audit (session_name) WHERE session_name IS NOT NULL;
   CREATE INDEX ON audit (subject) WHERE subject IS NOT NULL;
   ALTER TABLE audit ADD CONSTRAINT audit_request_id EXCLUDE USING hash (request_id WITH =);" \
  "$INSERT ON CONFLICT DO NOTHING"
v c2p "c2, plain INSERT" "${DDL[c2]}" "$INSERT"
v c3 "c2 keeping the unique btree on request_id" \
  "$TABLE CREATE INDEX ON audit USING brin (time) WITH (autosummarize = on);
   CREATE INDEX ON audit (session_name) WHERE session_name IS NOT NULL;
   CREATE INDEX ON audit (subject) WHERE subject IS NOT NULL;
   CREATE UNIQUE INDEX audit_request_id ON audit (request_id);" \
  "$INSERT ON CONFLICT (request_id) DO NOTHING"
v c3p "c3, plain INSERT" "${DDL[c3]}" "$INSERT"
v c4 "shipped: BRIN time, partial session/subject and unique request_id btrees, all COLLATE \"C\"" \
  "$TABLE CREATE INDEX ON audit USING brin (time) WITH (autosummarize = on);
   CREATE INDEX ON audit (session_name COLLATE \"C\") WHERE session_name IS NOT NULL;
   CREATE INDEX ON audit (subject COLLATE \"C\") WHERE subject IS NOT NULL;
   CREATE UNIQUE INDEX audit_request_id ON audit (request_id COLLATE \"C\");" \
  "$INSERT ON CONFLICT (request_id) DO NOTHING"
v c4p "c4, plain INSERT (what keyless sends first)" "${DDL[c4]}" "$INSERT"
v i1 "v0 + unique request_id (C)" "$TABLE CREATE UNIQUE INDEX ON audit (request_id COLLATE \"C\");" "$INSERT"
v i2 "v0 + session_name (C, partial)" "$TABLE CREATE INDEX ON audit (session_name COLLATE \"C\") WHERE session_name IS NOT NULL;" "$INSERT"
v i3 "v0 + subject (C, partial)" "$TABLE CREATE INDEX ON audit (subject COLLATE \"C\") WHERE subject IS NOT NULL;" "$INSERT"
v i4 "v0 + subject (C, partial, deduplicate_items off)" "$TABLE CREATE INDEX ON audit (subject COLLATE \"C\") WITH (deduplicate_items = off) WHERE subject IS NOT NULL;" "$INSERT"
v i5 "v0 + BRIN time" "$TABLE CREATE INDEX ON audit USING brin (time) WITH (autosummarize = on);" "$INSERT"
v i6 "v0 + hash request_id exclusion" "$TABLE ALTER TABLE audit ADD CONSTRAINT audit_request_id EXCLUDE USING hash (request_id WITH =);" "$INSERT"
v v10 "v2 with fillfactor 90 on the request_id index" \
  "$TABLE CREATE INDEX ON audit USING brin (time); CREATE INDEX ON audit (session_name);
   CREATE INDEX ON audit (subject);
   CREATE UNIQUE INDEX audit_request_id ON audit (request_id) WITH (fillfactor = 90);" \
  "$INSERT ON CONFLICT (request_id) DO NOTHING"
VARIANTS=${VARIANTS:-v00 v0 v1 v1p v2 v3 v4 v5 v6 v7 v8 v9 c2p c4 c4p}

busy() {  # ns of CPU used by anything, machine-wide, and the wall clock, from /proc/stat
  awk -v hz="$(getconf CLK_TCK)" '/^cpu / { printf "%.0f\n", ($2 + $3 + $4 + $7 + $8 + $9) * 1e9 / hz }' /proc/stat
  date +%s%N
}

wait_quiet() {  # until the machine uses under 0.3 of a core for 2 s (at most 5 minutes)
  local a b
  for _ in $(seq 1 150); do
    a=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat); sleep 2
    b=$(awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat)
    [ $((b - a)) -lt $((2 * $(getconf CLK_TCK) * 3 / 10)) ] && return 0
  done
}

pg_cpu() {  # ns of CPU of every PostgreSQL process (the measuring backend is not born yet or gone)
  local t=0 p
  for p in $(pgrep -x postgres || true); do
    t=$((t + $(awk '{print $1}' "/proc/$p/schedstat" 2>/dev/null || echo 0)))
  done
  echo "$t"
}

: >"$WORK/runs.txt"
printf '%-5s %-7s %8s %6s %7s %6s %6s %7s %6s  %s\n' variant flavor "backend" "other" "WAL B" "recs" "FPI" "idx MB" "busy" "(per row: µs of CPU, WAL bytes, records, full pages; busy: other cores in use)"
for _ in $(seq 1 "$REPEAT"); do
  for name in $VARIANTS; do
    for flavor in $FLAVORS; do
      s=kv_$name
      ins=${SQL[$name]}
      psql_ <<SQL
DROP SCHEMA IF EXISTS $s CASCADE;
CREATE SCHEMA $s;
SET search_path TO $s;
${DDL[$name]}
CREATE PROCEDURE run(f text) LANGUAGE plpgsql AS \$\$
DECLARE r record; i int;
BEGIN
  FOR i IN SELECT b FROM kb.batches WHERE flavor = f ORDER BY b LOOP
    SELECT * INTO r FROM kb.batches WHERE flavor = f AND b = i;
    $ins;
    COMMIT;
  END LOOP;
END \$\$;
CREATE PROCEDURE prefill(f text) LANGUAGE plpgsql AS \$\$
DECLARE r record;
BEGIN
  FOR r IN SELECT flavor, n / 1000 AS b,
         array_agg(time ORDER BY n) AS times, array_agg(session_name ORDER BY n) AS sessions,
         array_agg(subject ORDER BY n) AS subjects, array_agg(denied ORDER BY n) AS denied,
         array_agg(record ORDER BY n) AS records, array_agg(request_id ORDER BY n) AS rids
       FROM kb.rows WHERE flavor = f AND n < $PREFILL GROUP BY 1, 2 ORDER BY 2 LOOP
    $ins;
    COMMIT;
  END LOOP;
END \$\$;
CALL prefill('$flavor');
VACUUM ANALYZE audit;
CHECKPOINT;
SQL
      sleep "${PAUSE:-1}"  # a breath for whatever else runs on the machine
      [ -z "${QUIET:-}" ] || wait_quiet
      busy0=$(busy); before=$(pg_cpu)
      out=$(psql_ -At <<SQL
SET search_path TO $s;
SET synchronous_commit = on;
${WAL_COMPRESSION:+SET wal_compression = $WAL_COMPRESSION;}
SELECT split_part(pg_read_file('/proc/self/schedstat'), ' ', 1) AS c0, pg_current_wal_lsn() AS w0,
       wal_records AS r0, wal_fpi AS f0 FROM pg_stat_wal \gset
CALL run('$flavor');
SELECT pg_stat_force_next_flush() \gset
SELECT (split_part(pg_read_file('/proc/self/schedstat'), ' ', 1)::bigint - :c0) / 1000.0 / $ROWS,
       pg_wal_lsn_diff(pg_current_wal_lsn(), :'w0') / $ROWS,
       (SELECT sum(pg_relation_size(indexrelid)) FROM pg_index WHERE indrelid = 'audit'::regclass) / 1048576.0,
       (SELECT count(*) FROM audit),
       (SELECT (wal_records - :r0)::numeric / $ROWS FROM pg_stat_wal),
       (SELECT (wal_fpi - :f0)::numeric / $ROWS FROM pg_stat_wal);
SQL
)
      after=$(pg_cpu); busy1=$(busy)
      IFS='|' read -r backend wal idx count recs fpi <<<"$out"
      all=$(awk -v a="$after" -v b="$before" -v n="$ROWS" 'BEGIN { printf "%.1f", (a - b) / 1000 / n }')
      # What the rest of the machine did meanwhile, in cores: CPU time is inflated when the
      # other core is busy too (shared caches), so compare quiet runs.
      read -r -d '' b0 w0 <<<"$busy0" || true
      read -r -d '' b1 w1 <<<"$busy1" || true
      others=$(awk -v b0="$b0" -v b1="$b1" -v w0="$w0" -v w1="$w1" -v be="$backend" -v o="$all" -v n="$ROWS" \
        'BEGIN { printf "%.2f", ((b1 - b0) - (be + o) * 1000 * n) / (w1 - w0) }')
      printf '%-5s %-7s %8.1f %6s %7.0f %6.2f %6.3f %7.1f %6s  %s\n' "$name" "$flavor" "$backend" "$all" "$wal" "$recs" "$fpi" "$idx" "$others" "${NOTE[$name]}" \
        | tee -a "$WORK/runs.txt"
      [ "$name" = v00 ] || [ "$count" = $((ROWS + PREFILL)) ] || echo "  (expected $((ROWS + PREFILL)) rows, found $count)"
    done
    [ -n "${KEEP:-}" ] || psql_ -c "DROP SCHEMA IF EXISTS kv_$name CASCADE"
  done
done
[ -n "${KEEP:-}" ] || psql_ -c "DROP SCHEMA IF EXISTS kb CASCADE"

# The least backend CPU per variant and flavour over the quiet runs (the rest of the machine
# using under 0.5 of a core), or over all runs, marked `*`, when none was quiet.
echo
echo "least backend µs/row over quiet runs (* none quiet: least of all runs)"
awk '{ k = $1 " " $2; q = ($9 < 0.5)
       if (!(k in all) || $3 < all[k]) all[k] = $3
       if (q && (!(k in quiet) || $3 < quiet[k])) quiet[k] = $3
       if (!(k in order)) { order[k] = ++n; keys[n] = k } }
     END { for (i = 1; i <= n; i++) { k = keys[i]
             if (k in quiet) printf "%-14s %6.1f\n", k, quiet[k]
             else printf "%-14s %6.1f *\n", k, all[k] } }' "$WORK/runs.txt"
