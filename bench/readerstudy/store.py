"""The study's SQLite file (standard-library ``sqlite3``; one file per study, WAL journal).

Tables:
    meta        key → JSON value (suite, generators, seed, runs folder, created, …)
    items       what a reader sees: opaque token, image file name, prompt
    answer_key  each item's truth (real or which generator, modality, class, origin); only the
                analysis reads it — the reader-facing methods below never query it
    readers     one row per reader: the sign-in code and a display name
    answers     one row per (reader, item); a new answer to the same item replaces the old one

Every write runs in its own ``BEGIN IMMEDIATE`` transaction on its own connection, so concurrent
readers (threads or processes) never lose an answer; SQLite serialises the writers and each waits up
to ``BUSY_TIMEOUT_S`` for the lock.
"""

from __future__ import annotations

import contextlib
import json
import random
import re
import secrets
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from bench.errors import BenchError

DB_NAME = "study.sqlite"
IMAGES_DIR = "images"
SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 30.0
CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I/L look-alikes

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE items (
    id INTEGER PRIMARY KEY,
    token TEXT NOT NULL UNIQUE,
    image TEXT NOT NULL UNIQUE,
    prompt TEXT NOT NULL
);
CREATE TABLE answer_key (
    item_id INTEGER PRIMARY KEY REFERENCES items(id),
    is_real INTEGER NOT NULL CHECK (is_real IN (0, 1)),
    source TEXT NOT NULL,
    modality TEXT NOT NULL,
    label TEXT NOT NULL,
    origin TEXT NOT NULL
);
CREATE TABLE readers (
    id INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created TEXT NOT NULL
);
CREATE TABLE answers (
    reader_id INTEGER NOT NULL REFERENCES readers(id),
    item_id INTEGER NOT NULL REFERENCES items(id),
    says_real INTEGER NOT NULL CHECK (says_real IN (0, 1)),
    confidence INTEGER NOT NULL CHECK (confidence BETWEEN 1 AND 5),
    alignment INTEGER NOT NULL CHECK (alignment BETWEEN 1 AND 5),
    elapsed_ms INTEGER,
    answered_at TEXT NOT NULL,
    revisions INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (reader_id, item_id)
);
"""


def now_iso() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat()


def new_code() -> str:
    """A reader's sign-in code, e.g. ``K7QM-2XHD-9RTA`` (about 59 bits of randomness)."""
    raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(12))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


def normalise_code(code: str) -> str:
    """Accept codes typed in lower case, with spaces or without dashes."""
    raw = re.sub(r"[^A-Za-z0-9]", "", str(code)).upper()
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}" if len(raw) == 12 else raw


@dataclass(frozen=True)
class Reader:
    id: int
    code: str
    name: str


@dataclass(frozen=True)
class Item:
    """An item as a reader sees it: no source, no truth."""

    id: int
    token: str
    image: str
    prompt: str


class Study:
    """One study folder. Connections are opened per operation, so an instance is thread-safe."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)
        self.db_path = self.folder / DB_NAME
        self.images_dir = self.folder / IMAGES_DIR

    # -- connections --------------------------------------------------------------------------------
    @contextlib.contextmanager
    def connect(self) -> Iterator[sqlite3.Connection]:
        conn = sqlite3.connect(self.db_path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
            yield conn
        finally:
            conn.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A write transaction: takes the write lock up front, commits or rolls back as a whole."""
        with self.connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    # -- creation -----------------------------------------------------------------------------------
    def initialise(self, meta: dict[str, Any]) -> None:
        if self.db_path.exists():
            raise BenchError("a study already exists here", where=str(self.folder),
                             fix="choose another --out folder, or delete this one to start over")
        self.folder.mkdir(parents=True, exist_ok=True)
        with self.connect() as conn:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.executescript(SCHEMA)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        with self.transaction() as conn:
            conn.executemany("INSERT INTO meta (key, value) VALUES (?, ?)",
                             [(k, json.dumps(v)) for k, v in meta.items()])

    def add_items(self, items: list[dict[str, Any]]) -> None:
        """``items``: dicts with token, image, prompt (shown) and is_real, source, modality, label,
        origin (the key). Written in one transaction, in the (already shuffled) order given."""
        with self.transaction() as conn:
            for it in items:
                cur = conn.execute("INSERT INTO items (token, image, prompt) VALUES (?, ?, ?)",
                                   (it["token"], it["image"], it["prompt"]))
                conn.execute("INSERT INTO answer_key (item_id, is_real, source, modality, label, origin) "
                             "VALUES (?, ?, ?, ?, ?, ?)",
                             (cur.lastrowid, int(bool(it["is_real"])), it["source"], it["modality"],
                              it["label"], it["origin"]))

    def add_reader(self, name: str | None = None) -> Reader:
        with self.transaction() as conn:
            n = conn.execute("SELECT COUNT(*) FROM readers").fetchone()[0]
            name = name or f"reader {n + 1}"
            while True:
                code = new_code()
                if conn.execute("SELECT 1 FROM readers WHERE code = ?", (code,)).fetchone() is None:
                    break
            cur = conn.execute("INSERT INTO readers (code, name, created) VALUES (?, ?, ?)", (code, name, now_iso()))
            return Reader(cur.lastrowid, code, name)

    # -- reader-facing (never touch answer_key) ----------------------------------------------------
    def meta(self) -> dict[str, Any]:
        with self.connect() as conn:
            return {r["key"]: json.loads(r["value"]) for r in conn.execute("SELECT key, value FROM meta")}

    def title(self) -> str:
        return str(self.meta().get("title", self.folder.name))

    def reader_by_code(self, code: str) -> Reader | None:
        with self.connect() as conn:
            row = conn.execute("SELECT id, code, name FROM readers WHERE code = ?", (normalise_code(code),)).fetchone()
        return Reader(row["id"], row["code"], row["name"]) if row else None

    def readers(self) -> list[Reader]:
        with self.connect() as conn:
            return [Reader(r["id"], r["code"], r["name"]) for r in conn.execute("SELECT id, code, name FROM readers ORDER BY id")]

    def reader_items(self, reader: Reader) -> list[Item]:
        """All items in this reader's own shuffled order (fixed per reader, so coming back resumes)."""
        with self.connect() as conn:
            items = [Item(r["id"], r["token"], r["image"], r["prompt"])
                     for r in conn.execute("SELECT id, token, image, prompt FROM items ORDER BY id")]
        seed = self.meta().get("seed", 0)
        random.Random(f"{seed}:{reader.code}").shuffle(items)
        return items

    def item_by_token(self, token: str) -> Item | None:
        with self.connect() as conn:
            r = conn.execute("SELECT id, token, image, prompt FROM items WHERE token = ?", (str(token),)).fetchone()
        return Item(r["id"], r["token"], r["image"], r["prompt"]) if r else None

    def answers_of(self, reader: Reader) -> dict[int, dict[str, Any]]:
        """This reader's own answers, by item id."""
        with self.connect() as conn:
            rows = conn.execute("SELECT item_id, says_real, confidence, alignment FROM answers WHERE reader_id = ?",
                                (reader.id,)).fetchall()
        return {r["item_id"]: {"real": bool(r["says_real"]), "confidence": r["confidence"],
                               "alignment": r["alignment"]} for r in rows}

    def save_answer(self, reader: Reader, item: Item, says_real: bool, confidence: int, alignment: int,
                    elapsed_ms: int | None = None) -> int:
        """Insert or replace one answer in a transaction; returns how many items the reader has answered."""
        with self.transaction() as conn:
            conn.execute(
                "INSERT INTO answers (reader_id, item_id, says_real, confidence, alignment, elapsed_ms, answered_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (reader_id, item_id) DO UPDATE SET "
                "says_real = excluded.says_real, confidence = excluded.confidence, alignment = excluded.alignment, "
                "elapsed_ms = excluded.elapsed_ms, answered_at = excluded.answered_at, revisions = revisions + 1",
                (reader.id, item.id, int(bool(says_real)), int(confidence), int(alignment), elapsed_ms, now_iso()))
            return conn.execute("SELECT COUNT(*) FROM answers WHERE reader_id = ?", (reader.id,)).fetchone()[0]

    # -- analysis-facing -----------------------------------------------------------------------------
    def answer_table(self) -> list[dict[str, Any]]:
        """Every answer joined with its item's truth and its reader (for the analysis only)."""
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT a.reader_id, r.name AS reader, a.item_id, i.prompt, k.is_real, k.source, k.modality, "
                "k.label, a.says_real, a.confidence, a.alignment, a.elapsed_ms "
                "FROM answers a JOIN readers r ON r.id = a.reader_id JOIN items i ON i.id = a.item_id "
                "JOIN answer_key k ON k.item_id = a.item_id ORDER BY a.item_id, a.reader_id").fetchall()
        return [dict(r) for r in rows]

    def key_table(self) -> list[dict[str, Any]]:
        with self.connect() as conn:
            rows = conn.execute("SELECT i.id AS item_id, i.prompt, k.is_real, k.source, k.modality, k.label, k.origin "
                                "FROM items i JOIN answer_key k ON k.item_id = i.id ORDER BY i.id").fetchall()
        return [dict(r) for r in rows]


def open_study(folder: str | Path) -> Study:
    """An existing study folder, or a clear error."""
    study = Study(folder)
    if not study.db_path.is_file():
        raise BenchError(f"no reader study here (no {DB_NAME})", where=str(Path(folder)),
                         fix="create one with: medsyn-bench reader-study create --suite SUITE --generators A,B")
    return study
