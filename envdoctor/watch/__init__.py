"""``envdoctor watch``: what a pull or a job is waiting on, right now, with the figures.

:mod:`~envdoctor.watch.signals` samples psutil and NVML together, :mod:`~envdoctor.watch.rules`
names the limit of each sample and of the whole run (its rules and thresholds are data,
documented there), :mod:`~envdoctor.watch.render` shows it live, as lines or as JSON, and
:mod:`~envdoctor.watch.run` starts and watches a command.
"""
