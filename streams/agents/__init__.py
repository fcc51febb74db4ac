"""The worker's faust agents, the stream's three stages: ``quality_control`` judges each reading
(QARTOD) and stores it, ``indicators`` computes the sea-level and ecological indicators from the
judged readings, ``alerts`` evaluates the early-warning rules on both. Importing a module registers
its agent (``streams/worker.py``)."""
