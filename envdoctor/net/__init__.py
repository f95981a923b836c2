"""Tool-agnostic HTTP(S) measurement: the phases of one request, throughput, ranking.

Nothing here knows pip from conda: each tool module says which request exercises its
mirror (:class:`~envdoctor.net.session.PullPath`), and :mod:`envdoctor.net.measure`
times it.  The modules, lowest first:

- :mod:`~envdoctor.net.results`: outcomes, phases, samples, measurements.
- :mod:`~envdoctor.net.proxy`: which proxy a request uses (urllib/requests rules).
- :mod:`~envdoctor.net.session`: one measurement's requests, each blocking step bounded.
- :mod:`~envdoctor.net.ranking`: which mirror is best (the time a typical download takes).
- :mod:`~envdoctor.net.parallel`: Range support and 1 vs 4 and 8 connections on one file.
- :mod:`~envdoctor.net.downloads`: a run's download phase: every mirror together, then
  alone where the downloads competed, then parallel connections.
- :mod:`~envdoctor.net.measure`: latency and throughput of one URL or many mirrors.
- :mod:`~envdoctor.net.icmp`: the optional ICMP echo.
"""
