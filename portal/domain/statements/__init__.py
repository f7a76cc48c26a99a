"""对账单 by concern: the clock, requesting, reading, review, building and the files.

对账单: rate-limited requests, an idempotent streamed build by a worker, review by both sides.

Requesting (seed 004, DESIGN §7): per merchant–supplier pair at most 3 a day (Asia/Shanghai) and
at least 10 minutes apart, also across midnight. The check and the insert run in one transaction
that first locks the pair — `SELECT … FOR UPDATE` on its statement_pairs row on PostgreSQL; on
SQLite every writing transaction is `BEGIN IMMEDIATE` — and the unique (pair, day, slot)
constraint backs it. A statement whose build failed for a system reason gives its slot back.

Building: a worker claims the statement (queued → building, with a fencing token), deletes any
lines a crashed attempt left, and streams the orders in keyset batches: each batch is priced,
inserted and committed with a heartbeat, so memory stays flat in the line count. Totals come
from one aggregate over the lines at the end. The XLSX is then written once (XlsxWriter in
constant-memory mode) and stored with the statement: a download sends it as stored. The CSV
streams from the lines on download (plain rows in keyset batches), as does the XLSX of a
statement built before files were stored.
"""
