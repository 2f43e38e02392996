"""The JMX source's cost (issue 17's targets): the broker patterns read only MBeans the mapping
uses, and what they select from the recorded dumps maps to exactly the series every MBean gives.

The dumps (tests/fixtures/jmx-broker*.json) hold every MBean of kafka.server, kafka.controller
and kafka.network (and the older ones kafka.log, kafka.cluster too), so selecting rows with the
patterns the way the worker does (ObjectName pattern match, ``name=A|B`` alternatives, listed
attributes only) shows what one cycle reads.  No timing here: benchmarks/jmx_bench.py measures.
"""

from __future__ import annotations

import functools
import itertools
import json
from collections import Counter
from pathlib import Path

import pytest

from exporter.configbase import ConfigError
from exporter.exposition import render_text
from exporter.metrics import Samples
from exporter.sources.base import SourceError
from exporter.sources.jmx import config as jmx_config
from exporter.sources.jmx import query as jvm
from exporter.sources.jmx.broker import BrokerJmxSource, emit_broker, patterns
from exporter.sources.jmx.broker_records import parse_broker
from exporter.sources.jmx.broker_slow import slow_family
from exporter.sources.jmx.config import BrokerTarget, JmxConfig
from exporter.sources.jmx.patterns import CACHE_NAMES
from exporter.sources.jmx.patterns import alternatives as _alternatives
from exporter.sources.jmx.patterns import split_pattern as _split
from exporter.sources.jmx.rows import JmxRow, load_dump, parse_object_name
from tests.conftest import FIXTURES

#: the dumps of a broker that answered (a down broker's dump has no MBeans)
DUMPS = [p for p in sorted(FIXTURES.glob("jmx-broker*.json")) if json.loads(p.read_text()).get("mbeans")]
parsed = functools.cache(parse_object_name)
load = functools.cache(load_dump)


def _matches(pattern: str, mbean: str) -> bool:
    """javax.management.ObjectName.apply for the pattern forms the broker patterns use: a
    domain, ``key=value`` / ``key=*`` properties and an optional trailing ``,*``."""
    open_list = pattern.endswith((",*", ":*"))
    p_domain, p_props = parsed(pattern[:-2] + (":" if pattern.endswith(":*") else "") if open_list else pattern)
    domain, props = parsed(mbean)
    if domain != p_domain:
        return False
    if any(k not in props or (v != "*" and props[k] != v) for k, v in p_props.items()):
        return False
    return open_list or set(props) == set(p_props)


def selected(pats: list[str], rows: list[JmxRow]) -> list[JmxRow]:
    """The rows one cycle reads with these patterns (each MBean once per pattern)."""
    out: list[JmxRow] = []
    # rows by (domain, type) and by (domain, type, name): every pattern names a type, most a name
    index: dict[tuple[str, ...], list[JmxRow]] = {}
    for row in rows:
        domain, props = parsed(row.mbean)
        index.setdefault((domain, props.get("type") or ""), []).append(row)
        index.setdefault((domain, props.get("type") or "", props.get("name") or ""), []).append(row)
    for pattern in pats:
        name_pat, attributes, only_key = _split(pattern.removeprefix(CACHE_NAMES))
        query, keep = _alternatives(name_pat)
        domain, props = parsed(query)
        assert props.get("type") not in (None, "*"), pattern
        name = props.get("name", "*")
        key = (domain, props["type"]) if name == "*" else (domain, props["type"], name)
        for row in index.get(key, []):
            if not _matches(query, row.mbean):
                continue
            if not all((parsed(row.mbean)[1].get(k) in values) == wanted for k, values, wanted in keep):
                continue
            attr, _, key = row.attribute.partition("/")
            if attributes is not None and (attr not in attributes or (only_key is not None and key != only_key)):
                continue
            out.append(row)
    return out


def exposition(rows: list[JmxRow], **kw: bool) -> str:
    out = Samples()
    emit_broker(parse_broker(rows, "127.0.0.1:40301", **kw), out)
    return render_text(out).decode()


def test_alternatives_become_one_wildcard_query_and_a_filter() -> None:
    assert _alternatives("kafka.controller:type=KafkaController,name=A|B") == (
        "kafka.controller:type=KafkaController,name=*", (("name", frozenset({"A", "B"}), True),)
    )
    assert _alternatives("kafka.server:type=BrokerTopicMetrics,name=A|B,*") == (
        "kafka.server:type=BrokerTopicMetrics,name=*,*", (("name", frozenset({"A", "B"}), True),)
    )
    assert _alternatives("kafka.network:type=RequestMetrics,name=ErrorsPerSec,request=P|F,error=!NONE") == (
        "kafka.network:type=RequestMetrics,name=ErrorsPerSec,request=*,error=*",
        (("request", frozenset({"P", "F"}), True), ("error", frozenset({"NONE"}), False)),
    )
    assert _alternatives("kafka.server:type=ReplicaManager,*") == ("kafka.server:type=ReplicaManager,*", ())
    assert _alternatives('a:b="x|y"') == ('a:b="x|y"', ())  # a quoted value is literal


def test_the_test_matcher_is_objectname_apply() -> None:
    assert _matches("kafka.server:type=BrokerTopicMetrics,name=*", "kafka.server:type=BrokerTopicMetrics,name=BytesInPerSec")
    assert not _matches("kafka.server:type=BrokerTopicMetrics,name=*", "kafka.server:type=BrokerTopicMetrics,name=X,topic=t")
    assert _matches("kafka.server:type=BrokerTopicMetrics,name=*,*", "kafka.server:type=BrokerTopicMetrics,name=X,topic=t")
    assert not _matches("kafka.server:type=ReplicaManager,*", "kafka.server:type=ReplicaFetcherManager,name=MaxLag")
    assert _matches("kafka.server:type=raft-metrics", "kafka.server:type=raft-metrics")


def widened(pattern: str) -> list[str]:
    """The pattern without its name filters: every MBean of the type, every attribute; a
    ``request=A|B`` filter becomes one pattern per request type (as the code before asked)."""
    name_pat = _split(pattern.removeprefix(CACHE_NAMES))[0]
    query, filters = _alternatives(name_pat)
    requests = [values for key, values, keep in filters if key == "request" and keep]
    if not requests:
        return [query]
    return [query.replace("request=*", f"request={r}") for r in sorted(requests[0])]


@pytest.mark.parametrize("dump", DUMPS, ids=lambda p: p.stem)
@pytest.mark.parametrize("per_topic", [False, True])
def test_what_the_patterns_select_maps_to_the_same_series_as_every_mbean_of_their_types(dump: Path, per_topic: bool) -> None:
    rows = load(dump)
    kw = {"per_topic": per_topic, "per_partition": False, "log_size": True}
    pats = patterns(per_topic, False, log_size=True)
    every = exposition(selected([w for p in pats for w in widened(p)], rows), **kw)
    assert "kafka_insight_controller_active" in every and "kafka_insight_broker_under_replicated_partitions" in every
    assert exposition(selected(pats, rows), **kw) == every


def test_replica_manager_controller_and_topic_meters_read_only_the_mbeans_mapped() -> None:
    rows = load_dump(FIXTURES / "jmx-broker1-healthy.json")
    read = Counter(parse_object_name(r.mbean)[1].get("type") for r in selected(patterns(False, False), rows)
                   if r.attribute in ("Value", "Count"))
    every = Counter(parse_object_name(r.mbean)[1].get("type") for r in rows if r.attribute in ("Value", "Count")
                    and "topic" not in r.mbean)
    # 17 KafkaController, 12 ReplicaManager and 18 all-topics BrokerTopicMetrics MBeans exist;
    # the mapping uses 8, 10 and 10 (one getAttributes call each per cycle)
    assert (every["KafkaController"], every["BrokerTopicMetrics"]) == (17, 18)
    assert read["KafkaController"] == 8
    assert read["ReplicaManager"] == 10 * 1  # Value or Count, one row each
    assert read["BrokerTopicMetrics"] == 10


def test_socket_server_metrics_reads_only_the_client_software_mbeans() -> None:
    # KIP-511's connections per client software are what the mapping uses; the listener and
    # network-processor MBeans beside them (7 of 12 in this dump) cost a read each for nothing
    mbeans = {r.mbean for r in load_dump(FIXTURES / "jmx-broker1-healthy.json")}
    every = {m for m in mbeans if "type=socket-server-metrics" in m}
    (pattern,) = [p for p in patterns(False, False) if "socket-server-metrics" in p]
    called = {m for m in mbeans if _matches(_split(pattern)[0], m)}  # one getAttributes call each
    assert called == {m for m in every if "clientSoftwareName=" in m}
    assert 0 < len(called) < len(every)


def test_every_broker_pattern_names_its_attributes() -> None:
    # a pattern without attributes costs a getMBeanInfo call per MBean per cycle before its read
    for per_topic, per_partition in ((False, False), (True, True)):
        assert [p for p in patterns(per_topic, per_partition, log_size=True) if _split(p.removeprefix(CACHE_NAMES))[1] is None] == []
    rows = load(FIXTURES / "jmx-broker1-healthy.json")
    app_info = [r for r in selected(patterns(False, False), rows) if "app-info" in r.mbean]
    assert app_info == [r for r in rows if r.mbean == "kafka.server:type=app-info,id=1" and r.attribute in ("Version", "CommitId")]


class FakeBroker:
    """jvm.query_groups of one broker from the ops dump: every numeric value is the number of
    the query (1, 2, ...), so a sample tells which cycle read it; counts what each query asked."""

    def __init__(self) -> None:
        self.rows = load(FIXTURES / "jmx-broker1-ops.json")
        self.asked: list[list[str]] = []
        self.fail = False
        self.of: dict[str, list[JmxRow]] = {}  # pattern -> its rows in the dump (the first query asks every pattern)

    def __call__(self, address: str, pats: list[str], auth: object, **kw: object) -> list[list[JmxRow]]:
        if self.fail:
            raise SourceError(f"JMX {address}: Connection refused")
        self.asked.append(list(pats))
        n = len(self.asked)
        if not self.of:
            self.of = {p: selected([p], self.rows) for p in pats}
        return [[JmxRow(r.mbean, r.attribute, n if isinstance(r.value, (int, float)) else r.value, r.value_type)
                 for r in self.of[p]] for p in pats]


def cycle(source: BrokerJmxSource) -> Samples:
    out = Samples()
    emit_broker(source.collect(BrokerTarget("127.0.0.1:40301")), out)
    return out


PHASE = "kafka_insight_broker_request_phase_latency_seconds"
TOTAL = "kafka_insight_broker_request_latency_seconds"


@pytest.mark.parametrize("every", [1, 3, 4])
def test_slow_families_are_read_every_n_cycles_and_their_last_values_exported_between(
    monkeypatch: pytest.MonkeyPatch, every: int
) -> None:
    fake = FakeBroker()
    monkeypatch.setattr(jvm, "query_groups", fake)
    source = BrokerJmxSource(JmxConfig(slow_every=every))
    full = set(source.patterns)
    slow = {p for p in full if slow_family(p) is not None}
    assert len(slow) == 40 + 5 + 1 + 1  # 5 phases x 8 request types, 5 classic group states, per-state counts, app-info
    read_at: dict[str, list[int]] = {p: [] for p in full}
    for n in range(1, 3 * every + 2):
        out = cycle(source)
        for p in fake.asked[-1]:
            read_at[p].append(n)
        # every cycle: the fast families, read now
        assert out.get(TOTAL, broker_id="1", request="Produce", quantile="0.99") == n / 1000
        assert out.get("kafka_insight_broker_request_queue_size", broker_id="1") == n
        # a slow family: the value of its last read (n itself when read now)
        last = read_at["kafka.network:type=RequestMetrics,name=LocalTimeMs,request=Produce/Count,Mean,50thPercentile,"
                       "99thPercentile,999thPercentile"][-1]
        assert out.get(PHASE, broker_id="1", request="Produce", phase="local", quantile="0.99") == last / 1000
        assert last == n or every > 1
        assert out.get("kafka_insight_broker_jmx_info", broker_id="1", rack="", target="127.0.0.1:40301",
                       version="4.0.0", roles="broker,controller") == 1  # app-info rows kept between reads
    for p, cycles in read_at.items():
        if p in slow and every > 1:
            # the first cycle reads everything, then once every `every` cycles
            assert cycles[0] == 1 and all(b - a == every for a, b in itertools.pairwise(cycles[1:])), (p, cycles)
            assert len(cycles) in (3, 4), (p, cycles)
        else:
            assert cycles == list(range(1, 3 * every + 2)), p
    # spread over the cycles: after the first, no cycle reads more than its share (+ one family)
    per_cycle = [len(set(a) & slow) for a in fake.asked[1:]]
    assert max(per_cycle) <= (len(slow) / every + 10 if every > 1 else len(slow)), per_cycle


def test_after_a_failed_cycle_every_slow_family_is_read_again(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeBroker()
    monkeypatch.setattr(jvm, "query_groups", fake)
    source = BrokerJmxSource(JmxConfig(slow_every=4))
    cycle(source)
    cycle(source)
    assert len(fake.asked[-1]) < len(source.patterns)
    fake.fail = True
    with pytest.raises(SourceError):
        cycle(source)
    fake.fail = False
    cycle(source)  # a restarted broker: its version or group states may have changed
    assert sorted(fake.asked[-1]) == sorted(source.patterns)


def test_slow_every_is_validated_and_defaults_to_four() -> None:
    assert jmx_config.validate("jmx", {"brokers": {"targets": ["h:1"]}}).slow_every == 4  # type: ignore[union-attr]
    assert jmx_config.validate("jmx", {"brokers": {"slow_every": 1}}).slow_every == 1  # type: ignore[union-attr]
    for bad in (0, -1, 1.5, True, "4"):
        with pytest.raises(ConfigError, match="slow_every"):
            jmx_config.validate("jmx", {"brokers": {"slow_every": bad}})


def test_request_errors_in_one_query_without_the_success_meters() -> None:
    rows = load(FIXTURES / "jmx-broker1-ops.json")
    pats = [p for p in patterns(False, False) if "ErrorsPerSec" in p]
    assert len(pats) == 1  # one queryNames per cycle, not one per API
    read = {parsed(r.mbean)[1]["request"] + " " + parsed(r.mbean)[1]["error"] for r in selected(pats, rows)}
    # the dump's error meters of the default APIs other than NONE (13 NONE meters exist)
    assert read == {"Fetch NOT_LEADER_OR_FOLLOWER", "Fetch UNKNOWN_LEADER_EPOCH", "JoinGroup MEMBER_ID_REQUIRED",
                    "JoinGroup NOT_COORDINATOR"}, read
