"""Counters and histograms in the Prometheus text exposition format (version 0.0.4), without a client library."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable

#: Analysis wall-time buckets, seconds (a 12 MP photo takes about 2 s on one core; see docs/performance.md).
ANALYSIS_BUCKETS = (0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Histogram:
    def __init__(self, buckets: tuple[float, ...]) -> None:
        self.buckets = buckets
        self.counts = [0] * len(buckets)
        self.total = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        for index, bound in enumerate(self.buckets):
            if value <= bound:
                self.counts[index] += 1
        self.total += value
        self.count += 1


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, str], int] = defaultdict(int)
        self.request_seconds: dict[str, Histogram] = {}
        self.analyses: dict[tuple[str, str], int] = defaultdict(int)
        self.analysis_seconds = Histogram(ANALYSIS_BUCKETS)
        self.rejected: dict[str, int] = defaultdict(int)

    def request(self, method: str, route: str, status: int, seconds: float) -> None:
        with self._lock:
            self.requests[(method, route, str(status))] += 1
            self.request_seconds.setdefault(route, Histogram(REQUEST_BUCKETS)).observe(seconds)

    def analysis(self, status: str, kind: str | None, seconds: float | None) -> None:
        with self._lock:
            self.analyses[(status, kind or "")] += 1
            if seconds is not None:
                self.analysis_seconds.observe(seconds)

    def reject(self, reason: str) -> None:
        with self._lock:
            self.rejected[reason] += 1

    def render(self, gauges: Callable[[], dict[str, tuple[str, dict[str, float]]]]) -> str:
        """The exposition text; ``gauges()`` gives name -> (help, {label value: value}) read at scrape time."""
        out: list[str] = []
        with self._lock:
            _counter(out, "tamperscope_http_requests_total", "HTTP requests by method, route and status.",
                     [({"method": m, "route": r, "status": s}, v) for (m, r, s), v in sorted(self.requests.items())])
            out += ["# HELP tamperscope_http_request_duration_seconds Time to answer a request, by route.",
                    "# TYPE tamperscope_http_request_duration_seconds histogram"]
            for route, histogram in sorted(self.request_seconds.items()):
                _histogram(out, "tamperscope_http_request_duration_seconds", {"route": route}, histogram)
            _counter(out, "tamperscope_analyses_total", "Finished analyses by status and error kind.",
                     [({"status": s, "error_kind": k}, v) for (s, k), v in sorted(self.analyses.items())])
            out += ["# HELP tamperscope_analysis_duration_seconds Wall time of one analysis in a worker.",
                    "# TYPE tamperscope_analysis_duration_seconds histogram"]
            _histogram(out, "tamperscope_analysis_duration_seconds", {}, self.analysis_seconds)
            _counter(out, "tamperscope_rejected_requests_total", "Requests refused before any route ran, by reason.",
                     [({"reason": r}, v) for r, v in sorted(self.rejected.items())])
        for name, (help_text, values) in gauges().items():
            out += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge"]
            for labels, value in values.items():
                out.append(f"{name}{labels} {_number(value)}")
        return "\n".join(out) + "\n"


def _labels(labels: dict[str, str]) -> str:
    if not labels:
        return ""
    escaped = (f'{k}="{str(v).replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"'
               for k, v in labels.items())
    return "{" + ",".join(escaped) + "}"


def _counter(out: list[str], name: str, help_text: str, samples) -> None:
    out += [f"# HELP {name} {help_text}", f"# TYPE {name} counter"]
    out += [f"{name}{_labels(labels)} {_number(value)}" for labels, value in samples]


def _histogram(out: list[str], name: str, labels: dict[str, str], histogram: Histogram) -> None:
    for bound, count in zip(histogram.buckets, histogram.counts):
        out.append(f"{name}_bucket{_labels({**labels, 'le': _number(bound)})} {count}")
    out.append(f"{name}_bucket{_labels({**labels, 'le': '+Inf'})} {histogram.count}")
    out.append(f"{name}_sum{_labels(labels)} {_number(histogram.total)}")
    out.append(f"{name}_count{_labels(labels)} {histogram.count}")


def _number(value: float) -> str:
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


def labels(**values: str) -> str:
    return _labels(values)
