"""The Prometheus HTTP API over an injected ``httpx.Client``: instant and range queries, readiness.

Every failure (HTTP != 200, ``status: error``, timeouts, refused connections, undecodable bodies)
becomes ``errors.PrometheusError`` carrying URL, status, errorType and a truncated payload. Answers
keep ``warnings``/``infos`` so callers can refuse partial data. It must not interpret values.

One client, one set of credentials: ``RangeReader`` (the display-only range queries behind the
SLI sparkline) wraps the same ``PrometheusClient``, so bearer token, basic auth, TLS and headers
configured once apply to both instant and range queries.
"""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType, TracebackType
from typing import Any, Self

import httpx

from bot import errors
from bot.clients import retry as retrying

TIMEOUT_MARGIN = 5.0  # httpx waits a little longer than the server-side timeout= it asked for


@dataclass(frozen=True)
class Series:
    """One instant-vector (or scalar) sample. Special floats arrive as strings; float() parses them."""

    labels: Mapping[str, str]
    value: float
    timestamp: float


@dataclass(frozen=True)
class RangeSeries:
    labels: Mapping[str, str]
    points: tuple[tuple[float, float], ...]


@dataclass(frozen=True, slots=True)
class QueryResult:
    """An instant answer as three aligned columns (labels, values, timestamps), decoded in one pass:
    a fleet-wide answer has one sample per app and part, and callers mostly want the numbers, so no
    object is built per sample unless ``series`` is asked for. The label mappings are the decoded JSON
    objects themselves, owned by this result: read them, never change them."""

    expr: str
    at: float
    result_type: str
    labels: tuple[Mapping[str, str], ...] = ()
    values: tuple[float, ...] = ()
    timestamps: tuple[float, ...] = ()
    warnings: tuple[str, ...] = ()
    infos: tuple[str, ...] = ()

    @property
    def series(self) -> tuple[Series, ...]:
        return tuple(
            Series(MappingProxyType(m), v, t)
            for m, v, t in zip(self.labels, self.values, self.timestamps, strict=True)
        )

    def by(self, label: str) -> dict[str, float]:
        """Values keyed by one label (vector order is not guaranteed); last one wins on duplicates."""
        return {m[label]: v for m, v in zip(self.labels, self.values, strict=True) if label in m}

    def pairs(self) -> Iterator[tuple[Mapping[str, str], float]]:
        """(labels, value) per sample, lazily (one pass of a parser, no list of the whole answer)."""
        return zip(self.labels, self.values, strict=True)


@dataclass(frozen=True)
class RangeResult:
    expr: str
    series: tuple[RangeSeries, ...] = ()
    warnings: tuple[str, ...] = ()
    infos: tuple[str, ...] = field(default_factory=tuple)


class PrometheusClient:
    """Talks to one Prometheus. ``http`` carries base URL, auth headers, TLS and the transport."""

    def __init__(
        self,
        http: httpx.Client,
        *,
        timeout: float = 20.0,
        margin: float = TIMEOUT_MARGIN,
        retry: retrying.Retry | None = None,
    ) -> None:
        self.http = http
        # one attempt unless the caller (the wiring) gives a policy: tests of error shapes stay exact
        self.retry = retry if retry is not None else retrying.Retry(attempts=1)
        self.timeout = timeout  # server-side ``timeout=``; keep it below the tick
        self.margin = margin

    @classmethod
    def connect(
        cls,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        bearer_token: str | None = None,
        basic_auth: tuple[str, str] | None = None,
        timeout: float = 20.0,
        verify: bool | str | ssl.SSLContext = True,
        transport: httpx.BaseTransport | None = None,
        retry: retrying.Retry | None = None,
    ) -> PrometheusClient:
        """Build the httpx client from settings values (what wiring calls); ``transport`` for tests."""
        all_headers = dict(headers or {})
        if bearer_token:
            all_headers["Authorization"] = f"Bearer {bearer_token}"
        http = httpx.Client(
            base_url=url.rstrip("/"),
            headers=all_headers,
            auth=httpx.BasicAuth(*basic_auth) if basic_auth else None,
            timeout=timeout + TIMEOUT_MARGIN,
            verify=verify,
            transport=transport,
        )
        return cls(http, timeout=timeout, retry=retry)

    @property
    def url(self) -> str:
        return str(self.http.base_url).rstrip("/")

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def ready(self) -> bool:
        """GET /-/ready: True on 200. Never raises: a probe wants a yes or no."""
        try:
            return self.http.get("/-/ready", timeout=5.0).status_code == 200
        except httpx.HTTPError:
            return False

    def query(self, expr: str, at: float, timeout: float | None = None) -> QueryResult:
        """Instant query evaluated at the pinned time ``at`` (unix seconds), POSTed as a form."""
        timeout = self.timeout if timeout is None else timeout
        form = {"query": expr, "time": _ts(at), "timeout": f"{timeout:g}s"}
        body = self.retry.call("prometheus", lambda: self._post("/api/v1/query", form, timeout))
        kind = body["data"].get("resultType")
        result = body["data"].get("result")
        try:
            if kind == "vector":
                labels, values, times = _vector(result)
            elif kind == "scalar":
                labels, values, times = (MappingProxyType({}),), (float(result[1]),), (float(result[0]),)
            else:
                raise ValueError(f"unsupported resultType {kind!r} for an instant query")
            warnings, infos = _notes(body)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise self._error(f"malformed answer: {exc}", "/api/v1/query", body) from exc
        return QueryResult(expr, at, kind, labels, values, times, warnings, infos)

    def query_range(
        self, expr: str, start: float, end: float, step: float, timeout: float | None = None
    ) -> RangeResult:
        """Range query (sparklines, debugging); the server caps it at 11,000 points per series."""
        timeout = self.timeout if timeout is None else timeout
        form = {
            "query": expr,
            "start": _ts(start),
            "end": _ts(end),
            "step": f"{step:g}",
            "timeout": f"{timeout:g}s",
        }
        body = self.retry.call("prometheus", lambda: self._post("/api/v1/query_range", form, timeout))
        data = body["data"]
        try:
            if data.get("resultType") != "matrix":
                raise ValueError(f"unexpected resultType {data.get('resultType')!r}")
            series = tuple(
                RangeSeries(
                    MappingProxyType(dict(item.get("metric", {}))),
                    tuple((float(t), float(v)) for t, v in item.get("values", [])),
                )
                for item in data.get("result", [])
            )
            warnings, infos = _notes(body)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise self._error(f"malformed answer: {exc}", "/api/v1/query_range", body) from exc
        return RangeResult(expr, series, warnings, infos)

    def _post(self, path: str, form: Mapping[str, str], timeout: float) -> dict[str, Any]:
        try:
            response = self.http.post(path, data=dict(form), timeout=timeout + self.margin)
        except httpx.TimeoutException as exc:
            raise self._error(f"timed out after {timeout:g}s", path, None, error_type="timeout") from exc
        except httpx.HTTPError as exc:
            raise self._error(f"{type(exc).__name__}: {exc}", path, None, error_type="unavailable") from exc
        try:
            body = json.loads(response.content, object_hook=_compact)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            failure = self._error("response is not JSON", path, response.text, status=response.status_code)
            raise retrying.note_retry_after(failure, response.headers) from exc
        if not isinstance(body, dict):
            raise self._error("response is not a JSON object", path, body, status=response.status_code)
        if response.status_code != 200 or body.get("status") != "success":
            error_type = body.get("errorType")
            detail = errors.truncate(body.get("error", "query failed"))
            message = f"{error_type or 'error'}: {detail}"
            failure = self._error(message, path, body, status=response.status_code, error_type=error_type)
            raise retrying.note_retry_after(failure, response.headers)
        if not isinstance(body.get("data"), dict):
            raise self._error("response has no data", path, body, status=response.status_code)
        return body

    def _error(
        self,
        message: str,
        path: str,
        payload: object,
        *,
        status: int | None = None,
        error_type: str | None = None,
    ) -> errors.PrometheusError:
        rejected = status is not None and 400 <= status < 500 and status not in (408, 429)
        cls = errors.PrometheusRejected if rejected else errors.PrometheusUnavailable
        exc = cls(message, url=f"{self.url}{path}", status=status, payload=payload)
        exc.error_type = error_type
        return exc


def _ts(value: float) -> str:
    return f"{value:.3f}"


def _compact(obj: dict[str, Any]) -> Any:
    """Decoder hook: an instant sample ``{"metric": {...}, "value": [t, "v"]}`` becomes the tuple
    (labels, value, t) as soon as it is decoded, so a fleet-wide answer never holds its sample objects
    and value lists all at once. Anything else (or anything malformed) stays as it is, for ``_vector``
    to read or reject."""
    value = obj.get("value")
    if len(obj) == 2 and type(value) is list and len(value) == 2 and type(obj.get("metric")) is dict:
        try:
            return (obj["metric"], float(value[1]), float(value[0]))
        except (TypeError, ValueError):
            return obj
    return obj


def _vector(result: Any) -> tuple[tuple[Mapping[str, str], ...], tuple[float, ...], tuple[float, ...]]:
    """``[{"metric": {...}, "value": [t, "v"]}, ...]`` (samples already compacted by ``_compact``, or
    not) -> (labels, values, timestamps), one pass."""
    labels: list[Mapping[str, str]] = []
    values: list[float] = []
    times: list[float] = []
    empty: Mapping[str, str] = MappingProxyType({})
    for item in result:
        if type(item) is tuple:
            labels.append(item[0])
            values.append(item[1])
            times.append(item[2])
            continue
        t, v = item["value"]
        metric = item.get("metric", empty)
        if metric is not empty and not isinstance(metric, dict):
            raise TypeError(f"metric is {type(metric).__name__}, not an object")
        labels.append(metric)
        values.append(float(v))
        times.append(float(t))
    return tuple(labels), tuple(values), tuple(times)


def _notes(body: Mapping[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    return tuple(body.get("warnings") or ()), tuple(body.get("infos") or ())


class RangeReader:
    """Range queries for display (the SLI sparkline in heal PRs) over the instant client's connection.

    It reuses a ``PrometheusClient`` (same base URL, auth, TLS and headers: one set of credentials)
    and reshapes its matrix answer for the sparkline. Decisions never read through this class.
    """

    def __init__(self, client: PrometheusClient) -> None:
        self.client = client

    def close(self) -> None:
        self.client.close()

    def series(
        self, expr: str, start: float, end: float, step: float
    ) -> dict[str, list[tuple[float, float]]]:
        """label-set (as text) -> [(t, value)], NaN kept as NaN."""
        result = self.client.query_range(expr, start, end, max(step, 1.0))
        out: dict[str, list[tuple[float, float]]] = {}
        for s in result.series:
            key = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            out[key] = list(s.points)
        return out
