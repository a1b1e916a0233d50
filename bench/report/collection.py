"""The result files of one suite: read, vetted, and grouped by comparability.

Every ``leaderboards/<suite>/results/*.json`` is read with :func:`bench.results.read_result` (schema)
and checked for consistency: its suite is this suite, its file name is its generator's name, and its
dataset hash is the hash of its split hashes. A file that fails is *refused* with its name and the
reason; the other files are unaffected.

Published reader studies (``leaderboards/<suite>/reader-studies/*.json``, written by
``medsyn-bench reader-study analyse --publish``) are read too: each generator they rated gets the
newest study's ``metrics.reader_study`` (reader accuracy and AUC, human alignment rating) in memory,
when the study was made on the same suite version, so the table and the figures show human ratings
beside the automatic metrics. A study file that fails its checks is refused like a result file.

Results are comparable only when they share the suite version, the dataset hash and every reference
network hash. Results of two suite versions are never shown on one page: the page is the newest version
present, and the results of older versions are only listed as superseded (by name, without numbers),
until they are rerun or rescored. Within the newest version, the largest group (ties: the one holding
the newest result) is the leaderboard; every other group is shown apart, marked not comparable, with
what differs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bench.errors import BenchError
from bench.io import sha256_json
from bench.report import log, suite_dir
from bench.results import read_result


@dataclass
class Entry:
    """One vetted result file."""

    path: Path
    result: dict

    @property
    def name(self) -> str:
        return self.result["generator"]["name"]

    @property
    def role(self) -> str:
        return self.result["generator"]["role"]

    @property
    def kind(self) -> str:
        return self.result["generator"]["kind"]

    @property
    def modalities(self) -> list[str]:
        return list(self.result["generator"].get("modalities") or [])

    @property
    def key(self) -> tuple:
        r = self.result
        return (r["suite"]["version"], r["data"]["dataset_sha256"], tuple(sorted(r["reference"].items())))


def suite_members(e: Entry) -> list[str]:
    """The row names of a suite of specialists' members, as its result records them (empty for other rows)."""
    return list((e.result["generator"].get("spec") or {}).get("params", {}).get("members") or [])


def generalist(entries: list[Entry]) -> Entry | None:
    """The suite's generalist, the subject of its findings and of the per-generator figures: among the
    generalist rows that are not variants (``name+key=value``), the one whose model comes first in the
    suite spec's ``[generators] models`` (as the results recorded it); without that declaration, the
    first generalist row. None when the results have no generalist."""
    gens = [e for e in entries if e.role == "generalist"]
    gens = [e for e in gens if "+" not in e.name] or gens
    if not gens:
        return None
    declared = next((m for e in entries
                     if isinstance(m := ((e.result["suite"].get("spec") or {}).get("generators") or {}).get("models"), list)),
                    [])
    rank = {name: i for i, name in enumerate(declared)}
    return min(gens, key=lambda e: rank.get(e.name, len(rank)))


@dataclass
class Refused:
    file: str
    reason: str


# the order of roles in tables and figures (other roles, e.g. ladder rungs, after these)
ROLE_ORDER = {"generalist": 0, "specialist-suite": 1, "specialist": 2, "external": 3, "baseline": 4}


@dataclass
class Group:
    key: tuple
    entries: list[Entry]  # the leaderboard's rows: generators and baselines
    comparable: bool = True  # False: differs from the main group
    reason: str = ""  # why it is not comparable
    ladders: list[Entry] = field(default_factory=list)  # controlled-degradation rungs (their own section)
    variants: list[Entry] = field(default_factory=list)  # rows' variants: checkpoints, guidance, seeds (not ranked)

    @property
    def per_modality_entries(self) -> list[Entry]:
        """The rows without the suites of specialists: in one modality a suite is that modality's
        specialist, row for row, so per-modality tables, figures and (generator, modality) cells leave it out."""
        return [e for e in self.entries if e.role != "specialist-suite"]

    def family(self, e: Entry) -> str:
        """A row's generator family: its kind; for a suite of specialists, the kind its members share (their
        results in this group), else its own kind."""
        if e.role != "specialist-suite":
            return e.kind
        members = set(suite_members(e))
        kinds = {x.kind for x in self.entries + self.variants if x.name in members}
        return kinds.pop() if len(kinds) == 1 else e.kind

    @property
    def version(self) -> int:
        return self.key[0]

    @property
    def dataset_sha256(self) -> str:
        return self.key[1]

    @property
    def reference(self) -> dict[str, str]:
        return dict(self.key[2])


@dataclass
class ReaderStudy:
    """One published reader-study analysis."""

    path: Path
    analysis: dict

    @property
    def name(self) -> str:
        return self.path.stem

    @property
    def generators(self) -> dict[str, dict]:
        return self.analysis["generators"]


@dataclass
class Collection:
    suite: str
    folder: Path  # leaderboards/<suite>
    groups: list[Group] = field(default_factory=list)  # main group first; all of the newest version
    superseded: list[Entry] = field(default_factory=list)  # results of older suite versions (not shown)
    refused: list[Refused] = field(default_factory=list)
    reader_studies: list[ReaderStudy] = field(default_factory=list)  # oldest first

    @property
    def main(self) -> Group | None:
        return self.groups[0] if self.groups else None

    @property
    def others(self) -> list[Group]:
        return self.groups[1:]


def vet(path: Path, suite: str) -> Entry:
    """Read one result file and check that it belongs here and that its hashes agree."""
    result = read_result(path)
    where = str(path)
    if result["suite"]["name"] != suite:
        raise BenchError(f"result of suite {result['suite']['name']!r}, not {suite!r}", where=where,
                         fix=f"move it to leaderboards/{result['suite']['name']}/results/")
    gen = result["generator"]["name"]
    if path.stem != gen:
        raise BenchError(f"file name does not match its generator {gen!r}", where=where,
                         fix=f"results are published as {gen}.json; do not rename result files")
    data = result["data"]
    if sha256_json(data["splits"]) != data["dataset_sha256"]:
        raise BenchError("dataset_sha256 is not the hash of the recorded split hashes (edited or corrupted)",
                         where=where, fix="regenerate it with medsyn-bench run; do not edit result files by hand")
    return Entry(path, result)


def vet_reader_study(path: Path, suite: str) -> ReaderStudy:
    """Read one published reader-study analysis and check that it is one, of this suite."""
    from bench.io import read_json
    from bench.readerstudy.analyse import SCHEMA as READER_STUDY_SCHEMA

    where = str(path)
    try:
        a = read_json(path)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is refused with its reason
        raise BenchError(f"not readable JSON ({type(exc).__name__})", where=where,
                         fix="re-publish it with medsyn-bench reader-study analyse STUDY --publish") from exc
    if not isinstance(a, dict) or a.get("schema") != READER_STUDY_SCHEMA:
        raise BenchError(f"not a reader-study analysis (schema {a.get('schema') if isinstance(a, dict) else None!r}, "
                         f"expected {READER_STUDY_SCHEMA!r})", where=where,
                         fix="publish analyses with medsyn-bench reader-study analyse STUDY --publish")
    if (a.get("study") or {}).get("suite") != suite:
        raise BenchError(f"reader study of suite {(a.get('study') or {}).get('suite')!r}, not {suite!r}", where=where,
                         fix="move it to the reader-studies folder of its own suite")
    gens = a.get("generators")
    if not isinstance(gens, dict) or not all(isinstance(g, dict) for g in gens.values()):
        raise BenchError("'generators' is missing or malformed", where=where, fix="re-run the analysis")
    return ReaderStudy(path, a)


def attach_reader_studies(coll: Collection) -> None:
    """Give each result the ``metrics.reader_study`` of the newest study that rated it (same suite version)."""
    for study in sorted(coll.reader_studies, key=lambda s: str(s.analysis.get("created", ""))):
        version = (study.analysis.get("study") or {}).get("suite_version")
        for g in coll.groups:
            for e in g.entries:
                rs = (study.generators.get(e.name) or {}).get("metrics", {}).get("reader_study")
                if isinstance(rs, dict) and (version is None or version == e.result["suite"]["version"]):
                    e.result.setdefault("metrics", {})["reader_study"] = {**rs, "study": study.name}


def describe_difference(a: tuple, b: tuple) -> str:
    """Why key ``b`` is not comparable with key ``a`` (the main group's)."""
    out = []
    if a[0] != b[0]:
        out.append(f"suite version {b[0]} (leaderboard: {a[0]})")
    if a[1] != b[1]:
        out.append(f"dataset sha256 {b[1][:12]}… (leaderboard: {a[1][:12]}…)")
    ra, rb = dict(a[2]), dict(b[2])
    for name in sorted(set(ra) | set(rb)):
        if name not in rb:
            out.append(f"no reference network {name!r}")
        elif name not in ra:
            out.append(f"extra reference network {name!r}")
        elif ra[name] != rb[name]:
            out.append(f"reference {name!r} sha256 {rb[name][:12]}… (leaderboard: {ra[name][:12]}…)")
    return "; ".join(out) or "different comparability key"


def load_collection(suite: str, leaderboards_dir: str | Path = "leaderboards") -> Collection:
    folder = suite_dir(leaderboards_dir, suite)
    results = folder / "results"
    if not results.is_dir():
        raise BenchError("no results folder for this suite", where=str(results),
                         fix=f"run `medsyn-bench run --suite {folder.name}` or `medsyn-bench submit` first")
    coll = Collection(folder.name, folder)
    entries: list[Entry] = []
    for path in sorted(results.glob("*.json")):
        try:
            entries.append(vet(path, folder.name))
        except BenchError as exc:
            coll.refused.append(Refused(path.name, exc.message))
            log.warning("refused %s: %s", path.name, exc.message)
    newest = max((e.key[0] for e in entries), default=None)
    coll.superseded = sorted((e for e in entries if e.key[0] != newest), key=lambda e: (e.key[0], e.name))
    by_key: dict[tuple, list[Entry]] = {}
    for e in entries:
        if e.key[0] == newest:
            by_key.setdefault(e.key, []).append(e)
    ranked = sorted(by_key.items(), key=lambda kv: (len(kv[1]), max(e.result["created"] for e in kv[1])),
                    reverse=True)
    for i, (key, es) in enumerate(ranked):
        es = sorted(es, key=lambda e: e.name)
        g = Group(key, [e for e in es if e.role not in ("ladder", "variant")],
                  ladders=[e for e in es if e.role == "ladder"], variants=[e for e in es if e.role == "variant"])
        if i:
            g.comparable = False
            g.reason = describe_difference(ranked[0][0], key)
        coll.groups.append(g)
    studies = folder / "reader-studies"
    for path in sorted(studies.glob("*.json")) if studies.is_dir() else []:
        try:
            coll.reader_studies.append(vet_reader_study(path, folder.name))
        except BenchError as exc:
            coll.refused.append(Refused(f"reader-studies/{path.name}", exc.message))
            log.warning("refused reader-studies/%s: %s", path.name, exc.message)
    attach_reader_studies(coll)
    return coll
