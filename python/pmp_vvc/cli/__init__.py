"""Command-line tools of pmp-vvc: one module per console script, with ``build_parser()`` and ``main()``."""
