#!/usr/bin/env python3
"""store_sql.py DIR SQL: runs SQL on the local store in DIR read back as the
tables subjects(kind, subject, failures, blocked, expires),
blocks(kind, subject, time) and remembered(user, host, until), with
DIR/attempts.db attached (view attempts),
and prints the rows "|"-separated like sqlite3 -batch.
(The record format: common/subject_record.h; the same view as
tests/support/store_sql.h.)"""
import os
import sqlite3
import struct
import sys

SLOT = 2048


KINDS = {"u": "user", "h": "host", "p": "pair"}


def slot(b):
    """(seq, kind, state, history, name, remembered) of one valid slot, or
    None.
    The checksum is not verified here: the module never leaves a torn slot
    newer than a whole one for long, and the tests read settled stores."""
    if len(b) < 40 or b[:4] != b"PDSR" or b[4] not in (1, 2) or \
            chr(b[5]) not in KINDS:
        return None
    flags, hist = b[6], b[7]
    seq, name_len = struct.unpack_from("<IH", b, 8)
    count = b[14] if b[4] == 2 else 0
    at = 32 + 8 * hist + name_len
    remembered = []
    for _ in range(count):
        if at + 10 > len(b):
            return None
        until, host_len = struct.unpack_from("<qH", b, at)
        host = b[at + 10:at + 10 + host_len].decode("utf-8", "replace")
        remembered.append((host, until))
        at += 10 + host_len
    if at + 8 > len(b):
        return None
    failures, expires = struct.unpack_from("<qq", b, 16)
    history = struct.unpack_from("<%dq" % hist, b, 32)
    name = b[32 + 8 * hist:32 + 8 * hist + name_len].decode("utf-8", "replace")
    state = (failures, 1 if flags & 2 else 0, expires) if flags & 1 else None
    return seq, KINDS[chr(b[5])], state, history, name, remembered


def main():
    store, sql = sys.argv[1], sys.argv[2]
    db = sqlite3.connect(":memory:")
    # Typed columns, as in the former database: INTEGER affinity makes a
    # comparison with a text number (strftime('%s', 'now')) numeric.
    db.execute("CREATE TABLE subjects(kind TEXT, subject TEXT, "
               "failures INTEGER, blocked INTEGER, expires INTEGER)")
    db.execute("CREATE TABLE blocks(kind TEXT, subject TEXT, time INTEGER)")
    db.execute("CREATE TABLE remembered(user TEXT, host TEXT, until INTEGER)")
    sub = os.path.join(store, "subjects")
    for f in sorted(os.listdir(sub)) if os.path.isdir(sub) else []:
        if f.startswith("."):
            continue
        with open(os.path.join(sub, f), "rb") as fh:
            data = fh.read()
        slots = [s for s in (slot(data[:SLOT]), slot(data[SLOT:])) if s]
        if not slots:
            continue
        seq, kind, state, history, name, remembered = max(
            slots, key=lambda s: s[0])
        if state:
            db.execute("INSERT INTO subjects VALUES (?, ?, ?, ?, ?)",
                       (kind, name) + state)
        for t in history:
            db.execute("INSERT INTO blocks VALUES (?, ?, ?)", (kind, name, t))
        for host, until in remembered:
            db.execute("INSERT INTO remembered VALUES (?, ?, ?)",
                       (name, host, until))
    attempts = os.path.join(store, "attempts.db")
    if os.path.exists(attempts):
        db.execute("ATTACH ? AS a", (attempts,))
        db.execute("CREATE TEMP VIEW attempts AS SELECT * FROM a.attempts")
    for row in db.execute(sql):
        print("|".join("" if v is None else str(v) for v in row))


main()
