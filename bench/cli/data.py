"""``medsyn-bench`` list, data and prompts: what a suite holds.

Each command parses its arguments and calls one library function; `register` adds the parsers.
"""

from __future__ import annotations

from pathlib import Path

from bench.cli.common import add_data_args
from bench.errors import BenchError


def register(sub) -> None:
    """Add this module's commands to the ``medsyn-bench`` sub-parsers."""
    p = sub.add_parser("list", help="list suites, tasks, models and generator kinds")
    p.add_argument("what", nargs="?", default="all", choices=["all", "suites", "tasks", "models", "generators"])
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("data", help="inspect datasets or rebuild the embedded sample")
    dsub = p.add_subparsers(dest="data_command", metavar="ACTION", required=True)
    q = dsub.add_parser("info", help="splits, classes, prompts and hashes of a suite's data")
    q.add_argument("--suite", default="smoke")
    add_data_args(q)
    q = dsub.add_parser("download", help="fetch a suite's missing MedMNIST files into the data root (needs network; "
                                         "the only command that downloads anything)")
    q.add_argument("--suite", required=True)
    add_data_args(q)
    q = dsub.add_parser("make-sample", help="rebuild the embedded sample from the full MedMNIST files")
    q.add_argument("--data-root", required=True, help="folder with bloodmnist.npz, organamnist.npz, breastmnist.npz")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--out", default=None, help="output .npz (default: the package's embedded sample)")
    p.set_defaults(func=cmd_data)

    p = sub.add_parser("prompts", help="the prompts of a suite, as the manifest an external generator fills in")
    p.add_argument("--suite", required=True)
    p.add_argument("--n", type=int, default=None, help="images per prompt (default: the suite's n_per_prompt)")
    p.add_argument("--out", default=None, help="write a manifest template CSV here (default: print prompts)")
    add_data_args(p)
    p.set_defaults(func=cmd_prompts)


def cmd_list(args) -> int:
    from bench.registry import generator_kinds, task_kinds
    from bench.specs import list_models, list_suites, list_tasks, load_model, load_suite, load_task

    if args.what in ("all", "suites"):
        print("suites:")
        for n in list_suites():
            s = load_suite(n)
            print(f"  {n:<12} {s.profile:<4} {s.description}")
    if args.what in ("all", "tasks"):
        print("tasks:")
        for n in list_tasks():
            t = load_task(n)
            print(f"  {n:<16} ({t.task}) {t.description}")
    if args.what in ("all", "models"):
        print("models:")
        for n in list_models():
            m = load_model(n)
            print(f"  {n:<16} ({m.kind}) {m.description}")
    if args.what in ("all", "generators"):
        print("generator kinds: " + ", ".join(generator_kinds()))
        print("task kinds:      " + ", ".join(task_kinds()))
    return 0


def cmd_data(args) -> int:
    if args.data_command == "download":
        from bench.data.medmnist import fetch_missing
        from bench.specs import load_suite

        spec = load_suite(args.suite)
        if spec.data.source != "medmnist":
            raise BenchError(f"suite {spec.name!r} reads {spec.data.source!r} data: nothing to download",
                             where=spec.path, fix="download applies to suites with [data] source = \"medmnist\"")
        paths = fetch_missing(spec.data.subsets, spec.data.image_size, args.data_root or spec.data.root or None)
        print(f"{len(paths)} files in {paths[0].parent}" if paths else "no files")
        return 0
    if args.data_command == "make-sample":
        from bench.data.medmnist import EMBEDDED_FILE, make_embedded_sample

        summary = make_embedded_sample(args.data_root, Path(args.out) if args.out else EMBEDDED_FILE, args.seed)
        print(f"wrote {summary['file']} ({summary['bytes'] / 1e6:.2f} MB, sha256 {summary['sha256']})")
        for subset, s in summary.items():
            if isinstance(s, dict) and "counts" in s:
                print(f"  {subset}: {s['counts']}  md5 verified: {s['source']['md5_verified']}")
                for w in s["warnings"]:
                    print(f"    warning: {w}")
        return 0
    from bench.data import load_dataset
    from bench.specs import load_suite

    spec = load_suite(args.suite)
    ds = load_dataset(spec, args.data_root)
    h = ds.hashes()
    print(f"suite {spec.name}: source {spec.data.source}, {ds.image_size} px, dataset sha256 {h['dataset_sha256']}")
    for name, s in ds.splits.items():
        print(f"  {name:<8} {len(s):>7} images  pixels sha256 {h['splits'][name]['pixels_sha256'][:16]}…")
    for m, mod in enumerate(ds.modalities):
        counts = [int((ds.splits['train'].classes == ds.class_index(m, l)).sum()) for l in range(len(mod.class_names))]
        print(f"  {mod.key} ({mod.phrase}, {mod.channels} ch, {mod.licence}): train per class {counts}")
    budgets = ds.budget_indices(spec.splits.budgets, spec.splits.seed)
    print("  low-data budgets (images per class → train images): "
          + ", ".join(f"{n} → {len(idx)}" for n, idx in budgets.items()))
    print("  prompts, e.g.: " + "; ".join(p.text for p in ds.prompt_requests()[:3]))
    for w in ds.warnings:
        print(f"  warning: {w}")
    return 0


def cmd_prompts(args) -> int:
    from bench.data import load_dataset
    from bench.data.samples import manifest_template
    from bench.io import atomic_write_text
    from bench.specs import load_suite

    spec = load_suite(args.suite)
    ds = load_dataset(spec, args.data_root)
    n = args.n or spec.sampling.n_per_prompt
    reqs = ds.prompt_requests()
    if not args.out:
        for r in reqs:
            print(r.text)
        return 0
    atomic_write_text(args.out, manifest_template(ds, n))
    print(f"wrote {args.out}: {len(reqs)} prompts × {n} images; save each image at the listed path")
    return 0
