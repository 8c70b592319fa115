"""Partner service under load; run it as ``python -m benchmarks.service_load`` (see
``__main__``).

Modules, in the order a run uses them: ``environment`` (settings, throwaway database, Redis
keys), ``processes`` (API and worker subprocesses), ``fixtures`` (the consented subject and
its assets), ``clients`` (closed- and open-loop submits), ``cpu`` (CPU by owner from /proc),
``worker`` (queue-to-start, jobs/hour), ``figures`` (typed results) and ``report`` (JSON and
markdown, which ``--rewrite-report`` renders again from the JSON).
"""
