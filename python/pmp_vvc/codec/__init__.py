"""The codec boundary: the patched VTM-23.13 encoder/decoder behind a typed API.

``buildinfo`` loads the private extension ``pmp_vvc._vtm`` and finds VTM's cfg files; ``runner`` runs an
encode or decode in a child process into a typed record; ``guides`` holds the guide interface and the
factory behind ``--PMPGuide``/``--PMPModel``; ``options`` the ``--PMP*`` options and their defaults;
``vtmcfg`` reads VTM cfg files and command lines; ``vtmlog`` parses encoder logs; ``partition`` reads
the partition dump. Nothing here imports the evaluation or the learning side.
"""
