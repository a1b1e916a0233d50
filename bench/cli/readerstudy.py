"""``medsyn-bench`` reader-study: create, serve and analyse a blinded reader study.

Each command parses its arguments and calls one library function; `register` adds the parsers.
"""

from __future__ import annotations

from pathlib import Path

from bench.cli.common import add_data_args


def register(sub) -> None:
    """Add this module's commands to the ``medsyn-bench`` sub-parsers."""
    p = sub.add_parser("reader-study", help="a blinded reader study: clinicians rate realism and text alignment",
                       description="Create a blinded study of real held-out and synthetic images, serve it to "
                                   "readers in a browser, and analyse their answers.")
    rsub = p.add_subparsers(dest="rs_command", metavar="ACTION", required=True)
    q = rsub.add_parser("create", help="build a balanced, shuffled, blinded study from run folders")
    q.add_argument("--suite", required=True, help="suite name or .toml path")
    q.add_argument("--generators", required=True, help="comma-separated generators whose samples to include")
    q.add_argument("--n", type=int, default=50, help="images in the study, half of them real (default: 50)")
    q.add_argument("--runs-dir", default="runs", help="where the run folders are (default: runs/)")
    q.add_argument("--out", default=None, help="study folder (default: studies/<suite>-<time>)")
    q.add_argument("--readers", type=int, default=3, help="number of reader codes to make (default: 3)")
    q.add_argument("--seed", type=int, default=0)
    q.add_argument("--title", default="Reader study", help="title shown to readers (do not name generators)")
    add_data_args(q)
    q = rsub.add_parser("serve", help="serve a study to readers in the browser")
    q.add_argument("study", nargs="+", help="study folder(s); each reader code opens its own study")
    q.add_argument("--port", type=int, default=8000)
    q.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1, this machine only)")
    q = rsub.add_parser("analyse", help="accuracy/AUC, alignment ratings, agreement; writes analysis.json + .png")
    q.add_argument("study", help="study folder")
    q.add_argument("--runs-dir", default=None, help="run folders with result JSON (default: the one used at create)")
    q.add_argument("--publish", action="store_true",
                   help="also copy analysis.json to leaderboards/<suite>/reader-studies/, where the leaderboard "
                        "and the reader_study figure show it")
    q.add_argument("--leaderboards-dir", default="leaderboards", help="where --publish writes (default: leaderboards)")
    p.set_defaults(func=cmd_reader_study)


def cmd_reader_study(args) -> int:
    if args.rs_command == "create":
        from bench.readerstudy.create import create_study

        study, readers = create_study(args.suite, args.generators.split(","), args.n, Path(args.runs_dir),
                                      Path(args.out) if args.out else None, args.readers, args.seed, args.title,
                                      args.data_root)
        print("reader codes (give one to each reader):")
        for r in readers:
            print(f"  {r.name}: {r.code}")
        print(f"serve it with: medsyn-bench reader-study serve {study.folder}")
        return 0
    if args.rs_command == "serve":
        from bench.readerstudy.app import serve
        from bench.readerstudy.store import open_study

        studies = [open_study(s) for s in args.study]
        print(f"reader study at http://{args.host}:{args.port}/  (Ctrl+C to stop; answers are saved as they come)")
        serve(studies, args.host, args.port)
        return 0
    from bench.readerstudy.analyse import analyse_study

    json_path, png_path = analyse_study(args.study, args.runs_dir)
    print(f"wrote {json_path}\nwrote {png_path}")
    if args.publish:
        from bench.readerstudy.analyse import publish_analysis

        path = publish_analysis(args.study, args.leaderboards_dir)
        print(f"published {path}\nrender it with: medsyn-bench leaderboard --suite {path.parent.parent.name}")
    return 0
