"""The evaluation: anchor-vs-test sweeps over sequences and QPs, and what they report.

``sweep`` is the library behind ``pmp-run``, the bench and the CI gate (plan -> pairs of encode jobs ->
run on an executor -> typed summary); ``jobs`` describes and runs one keyed encode, ``records`` is its
JSON record; ``executors`` runs work locally or on Dask; ``bdrate`` and ``timesaving`` are the metrics;
``summary`` turns records into the run summary, ``report`` and ``plots`` write it as tables and
figures; ``sequences`` describes input sequences; ``qpspec`` parses ``--qp``; ``demo`` makes the bundled
clip.
"""
