"""Tool-agnostic HTTP(S) measurement: the phases of one request, throughput, ranking.

Nothing here knows pip from conda: each tool module says which request exercises its
mirror (:class:`~envdoctor.net.session.PullPath`), and :mod:`envdoctor.net.measure`
times it.  The modules, lowest first:

- :mod:`~envdoctor.net.results`: outcomes, phases, samples, measurements.
- :mod:`~envdoctor.net.proxy`: which proxy a request uses (urllib/requests rules).
- :mod:`~envdoctor.net.session`: one measurement's requests, each blocking step bounded.
- :mod:`~envdoctor.net.measure`: latency and throughput of one URL or many mirrors,
  and their ranking.
- :mod:`~envdoctor.net.icmp`: the optional ICMP echo.
"""
