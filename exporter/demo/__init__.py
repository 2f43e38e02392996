"""The embedded demo: a Tansu broker, synthetic traffic, and the exporter pointed at it.

:class:`~exporter.demo.embedded.Demo` runs it; :mod:`.broker` is the Tansu broker,
:mod:`.traffic` and :mod:`.client_stats` the demo clients.  This ``__init__`` imports none
of them (importing one runs this file first: a cycle).
"""
