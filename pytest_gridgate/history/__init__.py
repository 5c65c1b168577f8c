"""Suite history and trends (docs/history.md).

``gridgate history add`` appends one line per run to ``.gridgate/history.jsonl`` and
judges the run against the earlier runs of its branch; ``gridgate history show`` writes
a self-contained HTML page with charts (the ``charts`` extra: pygal) and a Markdown trend
block; ``--gridgate-history PATH`` puts the same trend verdict into a run's gate report.

* :mod:`.store`: the history file and its state file, locking, bad lines;
* :mod:`.record`: a gate report as one history line;
* :mod:`.trend`: the trend gate;
* :mod:`.markdown`, :mod:`.page`: the trend block and the page;
* :mod:`.plugin`: the pytest side (the run's own clock, ``--gridgate-history``);
* :mod:`.cli`: the command.
"""
