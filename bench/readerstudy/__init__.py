"""A blinded reader study: clinicians rate real and synthetic images for realism and text alignment.

    create.py   build a study folder: a balanced, shuffled, blinded item set + reader codes
    store.py    the study's SQLite file (items, the separate answer key, readers, answers)
    app.py      the web app readers answer in (FastAPI; HTML, CSS and JS inline, works offline)
    analyse.py  accuracy/AUC, alignment ratings, inter-reader agreement, correlation with metrics

A study folder holds ``study.sqlite``, ``images/`` (opaque random names) and, after analysis,
``analysis.json`` and ``analysis.png``.
"""

from bench.readerstudy.store import Study, open_study

__all__ = ["Study", "open_study"]
