"""Server variants for the online load bench: TLS, an API key, permissions, the
audit, serving logs; each compared with the plain server, runs alternating."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks._latency_hist import pooled_diff_interval_ms, pooled_percentile_ms

# Goals of issue #14 item 10 for the full secure mode against plain.
QPS_RATIO_GOAL = 0.90
P99_DIFF_GOAL_MS = 0.3
# Goal of issue #16 item 7: serving logs at 1% cost at most 5% of saturated QPS.
SERVING_LOG_QPS_GOAL = 0.95
SERVING_LOG_SAMPLE_RATE = 0.01
CONFIDENCE = 0.95
"""Least coverage of the interval around the median of pairs that decides a goal."""


@dataclass(frozen=True)
class Variant:
    """What one secure server turns on (the default is everything)."""

    tls: bool
    auth: bool
    audit: bool
    label: str
    serving_log: bool = False
    """Log SERVING_LOG_SAMPLE_RATE of the online reads (``--serving-log``)."""
    qps_goal: float = QPS_RATIO_GOAL
    """Least variant/plain saturated QPS ratio that meets the goal."""


VARIANTS = {
    "full": Variant(True, True, True, "TLS + API key + permissions + audit"),
    # The variants below split the cost of "full" between its parts.
    "tls": Variant(True, False, False, "TLS only (fs-front)"),
    "auth": Variant(False, True, True, "API key + permissions + audit, no TLS"),
    "noaudit": Variant(True, True, False, "TLS + API key + permissions, no audit"),
    # Not a secure mode: serving logs on, nothing else (#16).
    "servinglog": Variant(
        False, False, False, "serving log, 1% of reads sampled (no TLS, no auth)",
        serving_log=True, qps_goal=SERVING_LOG_QPS_GOAL,
    ),
}  # fmt: skip


@dataclass(frozen=True)
class Credentials:
    """Files and the key a secure server and its clients use."""

    ca: Path
    server_cert: Path
    server_key: Path
    key_file: Path
    api_key: str


def prepare(root: Path, store: Any) -> Credentials:
    """A CA and server certificate, one "reader" key, READ_ONLINE granted.

    The permissions go into ``store``'s registry, which the plain server reads
    too; without auth it does not enforce them (as Feast's ``no_auth``).
    """
    from feast.feature_service import FeatureService
    from feast.feature_view import FeatureView
    from feast.permissions.action import AuthzedAction
    from feast.permissions.permission import Permission
    from feast.permissions.policy import RoleBasedPolicy
    from feast.project import Project

    from featurestore.services.auth import add_key
    from tests.certs import issue_server_cert, make_ca

    ca = make_ca(root / "pki", "bench-ca")
    server = issue_server_cert(ca, root / "pki")
    key_file = root / "api_keys.yaml"
    api_key = add_key(key_file, "bench-reader", ["reader"])
    store.apply(
        [
            Permission(
                name="describe",
                types=[Project, FeatureView, FeatureService],
                actions=[AuthzedAction.DESCRIBE],
                policy=RoleBasedPolicy(roles=["reader"]),
            ),
            Permission(
                name="online-reader",
                types=[FeatureView],
                actions=[AuthzedAction.READ_ONLINE],
                policy=RoleBasedPolicy(roles=["reader"]),
            ),
        ]
    )
    return Credentials(ca.cert, server.cert, server.key, key_file, api_key)


def server_args(variant: Variant, creds: Credentials, audit: Path) -> list[str]:
    """`python -m featurestore.services.server` flags turning on ``variant``."""
    args = []
    if variant.tls:
        args += [
            "--tls-cert",
            str(creds.server_cert),
            "--tls-key",
            str(creds.server_key),
        ]
    if variant.auth:
        args += ["--auth", "api_keys", "--api-keys-file", str(creds.key_file)]
    if variant.audit:
        args += ["--audit-log", str(audit)]
    if variant.serving_log:
        args += ["--serving-log", "--serving-log-sample-rate",
                 str(SERVING_LOG_SAMPLE_RATE)]  # fmt: skip
    return args


def loadgen_args(variant: Variant, creds: Credentials) -> list[str]:
    """fs-loadgen flags for a client of ``variant``: the CA, the key."""
    args = ["-ca", str(creds.ca)] if variant.tls else []
    if variant.auth:
        args += ["-H", f"authorization: Bearer {creds.api_key}"]
    return args


def check_enforced(
    port: int, variant: Variant, creds: Credentials, request: bytes, method: str
) -> None:
    """Fail unless the server refuses a keyless read and serves a keyed one.

    A secure figure is only worth printing if the server really checked.

    Raises:
        RuntimeError: the server let a keyless read through or refused the key.
    """
    import grpc

    target = f"127.0.0.1:{port}"
    channel = (
        grpc.secure_channel(target, grpc.ssl_channel_credentials(creds.ca.read_bytes()))
        if variant.tls
        else grpc.insecure_channel(target)
    )
    with channel:
        call = channel.unary_unary(method)  # bytes in, bytes out
        if variant.auth:
            try:
                call(request, timeout=10)
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.UNAUTHENTICATED:
                    raise RuntimeError(f"keyless read: {exc.code()}") from exc
            else:
                raise RuntimeError("the secure server served a read without a key")
        metadata = (("authorization", f"Bearer {creds.api_key}"),)
        call(request, timeout=10, metadata=metadata if variant.auth else None)


def alternate(
    plain: Callable[[], dict[str, Any]],
    secure: Callable[[], dict[str, Any]],
    pairs: int,
    before_each: Callable[[], None],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``pairs`` runs of each, alternating, the order swapped every pair
    (plain-secure, secure-plain, ...) so drift in the machine's load over the
    run falls on both alike; ``before_each`` runs before every run."""
    plain_runs: list[dict[str, Any]] = []
    secure_runs: list[dict[str, Any]] = []
    for i in range(pairs):
        order = [(plain_runs, plain), (secure_runs, secure)]
        for runs, run in order if i % 2 == 0 else order[::-1]:
            before_each()
            runs.append(run())
    return plain_runs, secure_runs


def median_interval(
    values: Sequence[float], confidence: float = CONFIDENCE
) -> tuple[float, float]:
    """A distribution-free interval for the median ``values`` are drawn from.

    The sign-test interval: the k-th smallest and k-th largest value, with
    the largest k for which the median of independent draws from any
    continuous distribution falls between them with probability
    1 - 2 P(Binomial(n, 1/2) < k) >= ``confidence``. No normality assumed:
    a paired run can stall (a ratio of 0.7 among 0.9s) without moving it.
    Infinite bounds when there are too few values for that confidence
    (n <= 5 at 95%).
    """
    ordered = sorted(values)
    n, k, below = len(ordered), 0, 0
    # below = number of outcomes of n fair coin flips with fewer than j heads.
    for j in range(1, n // 2 + 1):
        below += math.comb(n, j - 1)
        if 1 - 2 * below / 2**n < confidence:
            break
        k = j
    if k == 0:
        return -math.inf, math.inf
    return ordered[k - 1], ordered[n - k]


def _judged(interval: tuple[float, float], good: Callable[[float], bool]) -> str:
    """The goal by the interval: met (all of it good), MISSED (none), or open."""
    low, high = (good(bound) for bound in interval)
    if low and high:
        return "met"
    return "undecided" if low or high else "MISSED"


def summarise(
    plain: list[dict[str, Any]],
    secure: list[dict[str, Any]],
    fixed_rate: bool,
    qps_goal: float = QPS_RATIO_GOAL,
) -> dict[str, Any]:
    """Medians of each side and the comparison: the QPS ratio (saturated) or
    the p99 difference in ms (fixed rate), also pair by pair."""

    def medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
        keys = ("qps", "p50_ms", "p99_ms")
        out: dict[str, Any] = {k: statistics.median(r[k] for r in runs) for k in keys}
        out["errors"] = sum(r["errors"] for r in runs)
        names = sorted({n for r in runs for n in r.get("cpu_us_per_call", {})})
        out["cpu_us_per_call"] = {
            n: statistics.median(r["cpu_us_per_call"].get(n, 0.0) for r in runs)
            for n in names
        }
        out["switches_per_call"] = {
            n: statistics.median(r["switches_per_call"].get(n, 0.0) for r in runs)
            for n in names
        }
        out["runs"] = runs
        return out

    result: dict[str, Any] = {"plain": medians(plain), "secure": medians(secure)}
    if fixed_rate:
        diff = result["secure"]["p99_ms"] - result["plain"]["p99_ms"]
        result["p99_diff_ms"] = diff
        result["p99_diff_pairs_ms"] = [
            s["p99_ms"] - p["p99_ms"] for p, s in zip(plain, secure, strict=True)
        ]
        result["p99_diff_paired_ms"] = statistics.median(result["p99_diff_pairs_ms"])
        result["goal_met"] = diff <= P99_DIFF_GOAL_MS
        result["goal_met_paired"] = result["p99_diff_paired_ms"] <= P99_DIFF_GOAL_MS
        result["p99_diff_paired_interval_ms"] = median_interval(
            result["p99_diff_pairs_ms"]
        )
        result["goal_by_interval"] = _judged(
            result["p99_diff_paired_interval_ms"], lambda d: d <= P99_DIFF_GOAL_MS
        )
        result.update(_pooled_p99(plain, secure))
    else:
        ratio = result["secure"]["qps"] / result["plain"]["qps"]
        result["qps_ratio"] = ratio
        result["qps_ratio_pairs"] = [
            s["qps"] / p["qps"] for p, s in zip(plain, secure, strict=True)
        ]
        result["qps_ratio_paired"] = statistics.median(result["qps_ratio_pairs"])
        result["qps_goal"] = qps_goal
        result["goal_met"] = ratio >= qps_goal
        result["goal_met_paired"] = result["qps_ratio_paired"] >= qps_goal
        result["qps_ratio_paired_interval"] = median_interval(result["qps_ratio_pairs"])
        result["goal_by_interval"] = _judged(
            result["qps_ratio_paired_interval"], lambda r: r >= qps_goal
        )
    return result


def _pooled_p99(
    plain: list[dict[str, Any]], secure: list[dict[str, Any]]
) -> dict[str, Any]:
    """The p99 of all of a side's calls together (as one long run) and the
    goal judged by the bootstrap interval of its difference; nothing when the
    runs carry no latency histogram."""
    key = "latency_hist_10us"
    if not all(key in run for run in (*plain, *secure)):
        return {}
    plain_hists = [run[key] for run in plain]
    secure_hists = [run[key] for run in secure]
    pooled = {
        "plain": pooled_percentile_ms(plain_hists),
        "secure": pooled_percentile_ms(secure_hists),
    }
    interval = pooled_diff_interval_ms(plain_hists, secure_hists, CONFIDENCE)
    return {
        "p99_pooled_ms": pooled,
        "p99_pooled_diff_ms": pooled["secure"] - pooled["plain"],
        "p99_pooled_diff_interval_ms": interval,
        "goal_by_pooled_interval": _judged(interval, lambda d: d <= P99_DIFF_GOAL_MS),
    }


def _span(interval: tuple[float, float], form: str) -> str:
    low, high = interval
    if math.isinf(low):
        return "(too few pairs)"
    return f"[{form.format(low)}, {form.format(high)}]"


def describe(name: str, result: dict[str, Any], fixed_rate: bool) -> str:
    """One printed line for a summarised case."""
    p, s = result["plain"], result["secure"]
    if fixed_rate:
        pairs = " / ".join(f"{d:+.2f}" for d in result["p99_diff_pairs_ms"])
        head = (
            f"plain p99 {p['p99_ms']:5.2f} (p50 {p['p50_ms']:.2f}) | secure p99 "
            f"{s['p99_ms']:5.2f} (p50 {s['p50_ms']:.2f}) ms | "
            f"{result['p99_diff_ms']:+.2f} ms (pairs {pairs}; median of pairs "
            f"{result['p99_diff_paired_ms']:+.2f}, {CONFIDENCE:.0%} interval "
            f"{_span(result['p99_diff_paired_interval_ms'], '{:+.2f}')}; "
            f"goal <= +{P99_DIFF_GOAL_MS} ms"
        )
    else:
        pairs = " / ".join(f"{r:.3f}" for r in result["qps_ratio_pairs"])
        head = (
            f"plain {p['qps']:6.0f} qps | secure {s['qps']:6.0f} qps | "
            f"secure/plain {result['qps_ratio']:.3f} (pairs {pairs}; median of "
            f"pairs {result['qps_ratio_paired']:.3f}, {CONFIDENCE:.0%} interval "
            f"{_span(result['qps_ratio_paired_interval'], '{:.3f}')}; "
            f"goal >= {result['qps_goal']}"
        )
    verdict = {
        (True, True): "met by both",
        (True, False): "met by the medians, MISSED by the pairs",
        (False, True): "MISSED by the medians, met by the pairs",
        (False, False): "MISSED",
    }[result["goal_met"], result["goal_met_paired"]]
    verdict += f"; by the interval: {result['goal_by_interval']}"
    if "p99_pooled_ms" in result:
        pooled = result["p99_pooled_ms"]
        verdict += (
            f")\n{'':20s} all calls pooled: plain p99 {pooled['plain']:.2f} | secure "
            f"p99 {pooled['secure']:.2f} ms | {result['p99_pooled_diff_ms']:+.2f} ms "
            f"({CONFIDENCE:.0%} bootstrap interval over pairs "
            f"{_span(result['p99_pooled_diff_interval_ms'], '{:+.2f}')}: "
            f"{result['goal_by_pooled_interval']}"
        )
    cpu = ", ".join(
        f"{n} {p['cpu_us_per_call'].get(n, 0):.0f} -> {c:.0f}"
        for n, c in s["cpu_us_per_call"].items()
    )
    switches = ", ".join(
        f"{n} {p['switches_per_call'].get(n, 0):.2f} -> {c:.2f}"
        for n, c in s["switches_per_call"].items()
    )
    return (
        f"{name:20s} {head}: {verdict})\n"
        f"{'':20s} CPU us per call, plain -> secure: {cpu}\n"
        f"{'':20s} context switches per call, plain -> secure: {switches}"
    )
