"""Command-line tools of pmp-vvc: one module per console script, each with ``build_parser()`` and ``main()``."""
