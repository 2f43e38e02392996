"""Generated dashboards, alert rules and runbook: fresh, tied to the catalogue, valid for the real tools.

promtool and amtool come from the Debian packages ``prometheus`` and
``prometheus-alertmanager``; the tests fail (not skip) without them, naming the package.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter.catalogue import all_specs
from exporter.metrics import MetricSpec
from exporter.mixin import alerts, dashboards, generate, panels, promql
from exporter.mixin.settings import DEFAULTS, Settings, load

ROOT = Path(__file__).resolve().parent.parent
PROMTOOL_TESTS = sorted((ROOT / "tests" / "promtool").glob("*.yml"))
RULES = ROOT / generate.RULES_FILE
RUNBOOK = ROOT / generate.RUNBOOK_FILE
AM_CONFIG = ROOT / "examples" / "alertmanager.yml"


def tool(name: str, package: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} not found: install the Debian package {package}")
    return path


def committed_dashboards() -> dict[str, dict[str, Any]]:
    return {p.name: json.loads(p.read_text()) for p in sorted((ROOT / "dashboards").glob("*.json"))}


def committed_rules() -> list[dict[str, Any]]:
    data = yaml.safe_load(RULES.read_text())
    return [rule for group in data["groups"] for rule in group["rules"]]


def dashboard_exprs(board: dict[str, Any]) -> list[tuple[str, str]]:
    """(where, expr) for every panel target and every query variable of a dashboard JSON."""
    found = []
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            found.append((f"{board['uid']} / {panel['title']}", target["expr"]))
    for var in board["templating"]["list"]:
        if var["type"] == "query":
            found.append((f"{board['uid']} / ${var['name']}", var["query"]))
    return found


def all_committed_exprs() -> list[tuple[str, str]]:
    exprs = [e for board in committed_dashboards().values() for e in dashboard_exprs(board)]
    exprs += [(rule["alert"], rule["expr"]) for rule in committed_rules()]
    return exprs


# -- freshness ------------------------------------------------------------------------------
def test_committed_artifacts_equal_a_fresh_generation() -> None:
    files = generate.artifacts(DEFAULTS)
    assert {str(p) for p in files} >= {"alerts/kafka-insight-rules.yml", "docs/runbook.md"}
    assert generate.stale(ROOT, files) == [], "run: python -m exporter.mixin.generate"


def test_generation_is_deterministic() -> None:
    assert generate.artifacts(DEFAULTS) == generate.artifacts(DEFAULTS)


def test_check_mode_detects_a_stale_and_a_stray_file(tmp_path: Path) -> None:
    assert generate.main(["--out", str(tmp_path)]) == 0
    assert generate.main(["--out", str(tmp_path), "--check"]) == 0
    board = tmp_path / "dashboards" / "kafka-insight-cluster.json"
    board.write_text(board.read_text().replace("Offline partitions", "Offline partitionz"))
    (tmp_path / "dashboards" / "old.json").write_text("{}")
    assert set(map(str, generate.stale(tmp_path, generate.artifacts(DEFAULTS)))) == {
        "dashboards/kafka-insight-cluster.json",
        "dashboards/old.json",
    }
    assert generate.main(["--out", str(tmp_path), "--check"]) == 1
    assert generate.main(["--out", str(tmp_path)]) == 0  # rewrites and removes the stray
    assert not (tmp_path / "dashboards" / "old.json").exists()
    assert generate.stale(tmp_path, generate.artifacts(DEFAULTS)) == []


def test_panels_do_not_overlap() -> None:
    for name, board in committed_dashboards().items():
        cells: set[tuple[int, int]] = set()
        for panel in board["panels"]:
            g = panel["gridPos"]
            assert g["x"] >= 0 and g["x"] + g["w"] <= 24, (name, panel["title"])
            area = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
            assert not area & cells, (name, panel["title"])
            cells |= area


def test_dashboard_json_is_sorted_and_ids_are_unique() -> None:
    for name, board in committed_dashboards().items():
        text = (ROOT / "dashboards" / name).read_text()
        assert text == json.dumps(board, sort_keys=True, indent=2) + "\n", name
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)) and all(isinstance(i, int) for i in ids), name
        assert board["uid"] == name.removesuffix(".json")


# -- every metric name comes from the catalogue --------------------------------------------------
def test_every_metric_in_dashboards_and_rules_is_in_the_catalogue() -> None:
    exprs = all_committed_exprs()
    assert len(exprs) > 30
    problems = {where: sorted(promql.unknown_metrics(expr)) for where, expr in exprs if promql.unknown_metrics(expr)}
    assert problems == {}
    used = set().union(*(promql.metric_names(e) for _, e in exprs))
    assert len(used & set(all_specs())) >= 20


def test_the_catalogue_check_fails_on_a_wrong_name() -> None:
    # a typo, a name from another exporter, and a spec that was never declared with metric()
    assert promql.unknown_metrics('rate(kafka_insight_source_erors_total{job=~"$job"}[$__rate_interval])') == {
        "kafka_insight_source_erors_total"
    }
    assert promql.unknown_metrics("sum by (topic) (kafka_server_replicamanager_underreplicatedpartitions)") == {
        "kafka_server_replicamanager_underreplicatedpartitions"
    }
    ghost = MetricSpec("kafka_insight_ghost_partitions", "gauge", "never declared in the catalogue at all")
    board = panels.DashboardDef(
        "x",
        "x",
        "x",
        (),
        (("s", (panels.PanelDef("Ghost", "a panel on a metric nobody emits", "short", (panels.Query(panels.q(ghost)),)),)),),
    )
    rendered = json.loads(panels.render(board))
    assert {promql.unknown_metrics(e).pop() for _, e in dashboard_exprs(rendered)} == {"kafka_insight_ghost_partitions"}


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (topic, partition) (rate(a_total{job=~"$job", x="y(z)"}[$__rate_interval]))', {"a_total"}),
        ("max without (instance) (b) / on () group_left (cluster_id) c", {"b", "c"}),
        ("count(d == -1) or vector(0)", {"d"}),
        ("time() - e > 3 * f offset 5m", {"e", "f"}),
        ('label_values(g{job=~"kafka-insight.*"}, job)', {"g"}),
        ("(h > 0) and on (job, instance, group) (i == 1) unless ignoring (state) j", {"h", "i", "j"}),
    ],
)
def test_metric_names_tokenizer(expr: str, names: set[str]) -> None:
    assert promql.metric_names(expr) == names


def test_controller_metrics_are_never_summed() -> None:
    # every KRaft controller node reports the controller MBeans: the cluster value is the max.
    # The one exception is ActiveControllerCount, 1 on the active node only: its sum over the
    # nodes must be 1, and it is summed only after each node is taken once (max by broker_id)
    active = "kafka_insight_controller_active"
    controller = {n for n in all_specs() if n.startswith("kafka_insight_controller_")} - {active}
    assert len(controller) >= 5
    used = [(where, e) for where, e in all_committed_exprs() if promql.metric_names(e) & controller]
    assert len(used) >= 5
    assert [(where, e) for where, e in used if re.search(r"\bsum\b", e)] == []
    assert all("max" in e for _, e in used if "label_values" not in e and "== 1" not in e), used
    summed = [(where, e) for where, e in all_committed_exprs() if active in promql.metric_names(e) and re.search(r"\bsum\b", e)]
    assert summed, "the active-controller sum (== 1) is the check"
    for where, e in summed:
        assert re.search(r"sum by \([^)]*\) \(\(?max by \([^)]*broker_id\)", e) or re.search(r"sum\(max by \(broker_id", e), where


def test_alert_dashboard_links_use_existing_variables() -> None:
    boards = {b.uid: b for b in dashboards.all_dashboards(DEFAULTS)}
    for alert in alerts.all_alerts(DEFAULTS):
        names = {v.name for v in boards[alert.dashboard].variables}
        assert set(alert.link_vars()) <= names, alert.name
        if not alert.per_exporter:
            assert alert.link_vars()[0] == "cluster_id", alert.name


def test_counter_functions_only_on_counters() -> None:
    assert [(where, p) for where, e in all_committed_exprs() for p in promql.type_errors(e)] == []
    assert promql.type_errors("rate(kafka_insight_partition_log_end_offset[5m])") == [
        "rate() on gauge kafka_insight_partition_log_end_offset"
    ]
    assert promql.type_errors("deriv(kafka_insight_collections_total[5m])") == [
        "deriv() on counter kafka_insight_collections_total"
    ]


# -- panels -------------------------------------------------------------------------------
UNIT_OF_SPEC = {"ratio": "percentunit", "seconds": "s", "bytes": "bytes"}
#: functions whose result no longer has the unit of their argument
CHANGES_UNIT = re.compile(r"\b(count|rate|irate|increase|deriv|delta|changes|count_over_time)\s*\(")


def test_every_panel_has_description_unit_and_scoped_queries() -> None:
    specs = all_specs()
    for board in dashboards.all_dashboards(DEFAULTS):
        names = [v.name for v in board.variables]
        assert names[:1] == ["datasource"] and {"job", "instance", "cluster_id"} <= set(names), board.uid
        for panel in board.panels():
            where = f"{board.uid} / {panel.title}"
            assert len(panel.description) >= 40, where
            if panel.kind == "text":
                continue
            assert panel.unit in panels.UNITS, where
            assert panel.queries, where
            for query in panel.queries:
                if "ALERTS" in promql.metric_names(query.expr):
                    # Prometheus' own ALERTS series carry the alert's labels: cluster_id, not job/instance
                    assert 'cluster_id=~"$cluster_id"' in query.expr, where
                else:
                    assert 'job=~"$job"' in query.expr and 'instance=~"$instance"' in query.expr, where
                assert "rate(" not in query.expr or "[$__rate_interval]" in query.expr, where
                assert "[5m]" not in query.expr and "[1m]" not in query.expr, where
                used = {specs[n].unit for n in promql.metric_names(query.expr) if n in specs}
                ratio = " / " in query.expr and panel.unit == "percentunit"  # seconds / seconds, e.g. lag / retention
                if len(used) == 1 and (unit := used.pop()) in UNIT_OF_SPEC and not CHANGES_UNIT.search(query.expr) and not ratio:
                    assert panel.unit == UNIT_OF_SPEC[unit], f"{where}: {unit} metric shown as {panel.unit}"


def test_dashboards_use_grafana_variables_and_links() -> None:
    boards = committed_dashboards()
    assert len(boards) >= 3
    for board in boards.values():
        for panel in board["panels"]:
            if panel["type"] in ("row", "text"):
                continue
            assert panel["datasource"] == "${datasource}"
            assert panel["fieldConfig"]["defaults"]["unit"], panel["title"]
            assert panel["description"], panel["title"]
        assert board["links"] and board["links"][0]["tags"] == ["kafka-insight"]


# -- alerts -------------------------------------------------------------------------------
def test_alerts_carry_severity_annotations_runbook_and_dashboard() -> None:
    runbook = RUNBOOK.read_text()
    anchors = {line[3:].strip().lower() for line in runbook.splitlines() if line.startswith("## ")}
    uids = {b["uid"] for b in committed_dashboards().values()}
    rules = committed_rules()
    assert len(rules) >= 7
    for rule in rules:
        name = rule["alert"]
        assert re.fullmatch(r"Kafka[A-Z][A-Za-z]+", name), name
        assert rule["labels"]["severity"] in ("critical", "warning", "info"), name
        ann = rule["annotations"]
        assert set(ann) == {"summary", "description", "runbook_url", "dashboard_url"}, name
        assert "{{" not in ann["summary"], f"{name}: summary must be a static sentence"
        # absent() has no labels to show (it fires because no series exists)
        assert "{{ $labels." in ann["description"] or rule["expr"].startswith("absent("), name
        # the value, unless it is a fixed 0/1 (a target down, a flag raised)
        assert "{{ $value" in ann["description"] or re.search(r"== [01]\b", rule["expr"]), name
        assert ann["runbook_url"].split("#")[1] in anchors, f"{name}: no runbook section"
        assert re.search(r"/d/([a-z-]+)(\?|$)", ann["dashboard_url"]).group(1) in uids, name  # type: ignore[union-attr]
    assert len({r["alert"] for r in rules}) == len(rules)


def test_runbook_sections_say_meaning_confirmation_and_action() -> None:
    for alert in alerts.all_alerts(DEFAULTS):
        rb = alert.runbook
        assert len(rb.meaning) > 80 and len(rb.action) > 40, alert.name
        assert "kafka-" in rb.confirm or "exporter" in rb.confirm or "/metrics" in rb.confirm, alert.name
        # the "how each alert behaves during an outage, a reassignment, an HA pair"
        assert "HA pair" in rb.behaviour and len(rb.behaviour) > 60, alert.name


def test_promtool_check_rules() -> None:
    done = subprocess.run([tool("promtool", "prometheus"), "check", "rules", str(RULES)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(committed_rules())} rules found" in done.stdout


def test_promtool_unit_tests_pass() -> None:
    assert PROMTOOL_TESTS
    done = subprocess.run(
        [tool("promtool", "prometheus"), "test", "rules", *map(str, PROMTOOL_TESTS)], capture_output=True, text=True, cwd=ROOT
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_every_alert_has_a_firing_and_a_silent_promtool_case() -> None:
    fires: set[str] = set()
    silent: set[str] = set()
    for path in PROMTOOL_TESTS:
        for case in yaml.safe_load(path.read_text())["tests"]:
            for check in case.get("alert_rule_test", []):
                (fires if check.get("exp_alerts") else silent).add(check["alertname"])
    names = {rule["alert"] for rule in committed_rules()}
    assert names - fires == set(), "alerts without a case where they fire"
    assert names - silent == set(), "alerts without a case where they must not fire"


def test_promtool_catches_a_broken_expectation(tmp_path: Path) -> None:
    # the harness can fail: the same test, expecting the stale alert one evaluation early
    source = (ROOT / "tests" / "promtool" / "exporter.yml").read_text()
    broken = source.replace("- eval_time: 9m", "- eval_time: 8m", 1).replace("../../alerts/", f"{ROOT}/alerts/")
    assert broken != source
    (tmp_path / "broken.yml").write_text(broken)
    done = subprocess.run([tool("promtool", "prometheus"), "test", "rules", str(tmp_path / "broken.yml")], capture_output=True)
    assert done.returncode != 0


# -- Alertmanager example -----------------------------------------------------------------
def test_alertmanager_example_is_valid() -> None:
    done = subprocess.run(
        [tool("amtool", "prometheus-alertmanager"), "check-config", str(AM_CONFIG)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "8 inhibit rules" in done.stdout


@pytest.mark.parametrize(("severity", "receiver"), [("critical", "pager"), ("warning", "ticket"), ("info", "ticket")])
def test_alertmanager_routes_by_severity(severity: str, receiver: str) -> None:
    amtool = tool("amtool", "prometheus-alertmanager")
    cmd = [amtool, "config", "routes", "test", f"--config.file={AM_CONFIG}", f"--verify.receivers={receiver}"]
    done = subprocess.run([*cmd, f"severity={severity}", "alertname=KafkaOfflinePartitions"], capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout.strip() == receiver, done.stdout + done.stderr
    wrong = "ticket" if receiver == "pager" else "pager"
    cmd[-1] = f"--verify.receivers={wrong}"
    assert subprocess.run([*cmd, f"severity={severity}"], capture_output=True).returncode != 0


def test_inhibitions_name_real_alerts() -> None:
    config = yaml.safe_load(AM_CONFIG.read_text())
    names = {rule["alert"] for rule in committed_rules()}
    mentioned = set()
    for rule in config["inhibit_rules"]:
        for matcher in rule["source_matchers"] + rule["target_matchers"]:
            mentioned |= set(re.findall(r"Kafka[A-Za-z]+", matcher))
    assert mentioned and mentioned <= names


def test_prometheus_example_is_valid_and_matches_the_job_selector(tmp_path: Path) -> None:
    example = yaml.safe_load((ROOT / "examples" / "prometheus.yml").read_text())
    example["rule_files"] = [str(RULES)]
    config = tmp_path / "prometheus.yml"
    config.write_text(yaml.safe_dump(example))
    done = subprocess.run([tool("promtool", "prometheus"), "check", "config", str(config)], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    pattern = re.fullmatch(r'job=~"(.*)"', DEFAULTS.job_selector)
    assert pattern is not None
    assert all(re.fullmatch(pattern.group(1), job["job_name"]) for job in example["scrape_configs"])


# -- settings -----------------------------------------------------------------------------
def test_settings_file_changes_thresholds_and_selector(tmp_path: Path) -> None:
    custom = tmp_path / "settings.yml"
    custom.write_text('job_selector: job="kafka"\nstale_for: 7m\nrunbook_url: https://wiki.example/runbook\n')
    settings = load(custom)
    assert settings.stale_for == "7m" and settings.lag_for == DEFAULTS.lag_for
    rules = generate.render_rules(settings)
    assert 'kafka_insight_source_up{job="kafka"} == 0' in rules
    assert "for: 7m" in rules and "https://wiki.example/runbook#kafkainsightcollectionstale" in rules
    boards = [panels.render(b) for b in dashboards.all_dashboards(settings)]
    assert all('kafka_insight_build_info{job=\\"kafka\\"}' in text for text in boards)


def test_settings_errors_name_the_setting(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yml"
    bad.write_text("stale_fro: 5m\n")
    with pytest.raises(ValueError, match="unknown setting 'stale_fro'"):
        load(bad)
    with pytest.raises(ValueError, match="stale_for: '5 minutes' is not a Prometheus duration"):
        Settings(stale_for="5 minutes")
    assert generate.main(["--settings", str(bad), "--check"]) == 2


# -- structure (issue 14) -------------------------------------------------------------------
def test_mixin_uses_no_private_grafanalib_module_and_stays_in_small_modules() -> None:
    sources = sorted((ROOT / "exporter" / "mixin").rglob("*.py"))
    assert len(sources) >= 10
    for path in sources:
        text = path.read_text()
        assert not re.search(r"grafanalib\._|from grafanalib import _", text), path
        assert len(text.splitlines()) <= 420, f"{path}: split it along its rows / rule groups"


def test_every_dashboard_row_has_its_own_builder() -> None:
    from exporter.mixin.boards import cluster_board, consumers_board, exporter_board, producers_board

    for module in (exporter_board, cluster_board, consumers_board, producers_board):
        builders = [name for name in dir(module) if name.startswith("_") and name.endswith("_row")]
        assert len(builders) >= 4, module.__name__


def test_risk_dashboard_counts_real_alerts_and_keeps_a_row_per_builder() -> None:
    from exporter.mixin.boards import risk_board

    names = {a.name for a in alerts.all_alerts(DEFAULTS)}
    grouped = [n for group in risk_board.PITFALL_ALERTS.values() for n in group]
    assert set(grouped) <= names and len(grouped) == len(set(grouped))
    board = risk_board.risk_dashboard(DEFAULTS)
    assert [title for title, _ in board.sections] == [build()[0] for build in risk_board.RISK_ROWS]
    variables = {v.name: v for v in board.variables}
    assert variables["instance"].multi and variables["cluster_id"].multi
    exprs = {p.title: [qq.expr for qq in p.queries] for p in board.panels()}
    # the active-controller stat is a sum of per-node maxima, green only at exactly 1
    active = next(p for p in board.panels() if p.title == "Active controllers")
    assert active.queries[0].expr.startswith("sum(max by (broker_id)") and active.thresholds == ((None, "red"), (1.0, "green"), (2.0, "red"))
    lost = next(p for p in board.panels() if p.title.startswith("Brokers lost"))
    assert "max_over_time" in lost.queries[0].expr and lost.thresholds[-1][1] == "red"
    heavy = [t for t, es in exprs.items() if any("topic" in e or "group" in e for e in es) and "stalled or stopped" not in t.lower()]
    for title in heavy:
        assert all("topk" in e or "bottomk" in e or e.startswith("count(") or e.startswith("max(") for e in exprs[title]), title


def test_dashboard_queries_only_use_variables_the_dashboard_defines() -> None:
    builtin = {"__rate_interval", "__range", "__interval"}
    for board in dashboards.all_dashboards(DEFAULTS):
        defined = {v.name for v in board.variables} | builtin
        for panel, query in board.queries():
            used = set(re.findall(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)", query.expr))
            assert used <= defined, f"{board.uid} / {panel.title}: {sorted(used - defined)}"


def _alertmanager(tmp_path: Path) -> tuple[subprocess.Popen[bytes], str]:
    from exporter.demo.broker import free_port
    from tests._prometheus import wait_for

    binary = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if binary is None:
        pytest.fail("alertmanager not found: install the Debian package prometheus-alertmanager")
    url = f"http://127.0.0.1:{free_port()}"
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={AM_CONFIG}",
            f"--storage.path={tmp_path}",
            f"--web.listen-address={url.removeprefix('http://')}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    amtool = tool("amtool", "prometheus-alertmanager")
    wait_for(
        "alertmanager",
        lambda: subprocess.run([amtool, "alert", "query", f"--alertmanager.url={url}"], capture_output=True).returncode == 0,
        30,
    )
    return process, url


#: (source alert, target alert, whether the example inhibits the target): each case in a cluster of its own
INHIBITIONS: list[tuple[dict[str, str], dict[str, str], bool]] = [
    # LagHigh of a group that does not progress says nothing new; another group's LagHigh does
    ({"alertname": "KafkaConsumerGroupNotProgressing", "group": "billing"}, {"alertname": "KafkaConsumerGroupLagHigh", "group": "billing"}, True),
    ({"alertname": "KafkaConsumerGroupNotProgressing", "group": "billing"}, {"alertname": "KafkaConsumerGroupLagHigh", "group": "audit"}, False),
    ({"alertname": "KafkaClusterUnreachable"}, {"alertname": "KafkaInsightSourceDown", "source": "admin", "target": "k:9092"}, True),
    (
        {"alertname": "KafkaControllerTargetDown", "target": "c1:9999"},
        {"alertname": "KafkaInsightSourceDown", "source": "broker_jmx", "target": "c1:9999"},
        True,
    ),
    (
        {"alertname": "KafkaConsumerLagNearRetention", "group": "g", "topic": "t"},
        {"alertname": "KafkaConsumerLagHalfRetention", "group": "g", "topic": "t"},
        True,
    ),
]


def test_alertmanager_example_inhibits_in_a_real_alertmanager(tmp_path: Path) -> None:
    from tests._prometheus import stop_process, wait_for

    amtool = tool("amtool", "prometheus-alertmanager")
    process, url = _alertmanager(tmp_path)

    def query(*flags: str) -> set[str]:
        out = subprocess.run([amtool, "alert", "query", f"--alertmanager.url={url}", "-o", "json", *flags], capture_output=True, text=True).stdout
        return {json.dumps(a["labels"], sort_keys=True) for a in json.loads(out or "[]")}

    try:
        expected: dict[str, bool] = {}
        for case, (source, target, inhibited) in enumerate(INHIBITIONS):
            scope = {"cluster_id": f"c{case}", "severity": "warning"}
            for labels in (source, target):
                args = [f"{k}={v}" for k, v in {**scope, **labels}.items()]
                done = subprocess.run([amtool, "alert", "add", f"--alertmanager.url={url}", *args], capture_output=True, text=True)
                assert done.returncode == 0, done.stderr
            expected[json.dumps({**scope, **target}, sort_keys=True)] = inhibited
        wait_for("every alert in alertmanager", lambda: len(query("-a", "-i")) == 2 * len(INHIBITIONS), 30)
        # inhibition is computed as alerts are processed: wait for the verdicts
        want = {key for key, inhibited in expected.items() if inhibited}
        wait_for("the inhibition verdicts", lambda: query("-i") == want, 30)
        assert not want & query("-a") and set(expected) - want <= query("-a")
    finally:
        stop_process(process, 10)


def test_runbooks_name_only_panels_that_exist() -> None:
    # the issue: "do not claim panels that do not exist"; a panel is named as *Title* (a prefix of
    # the real title, which may add the client kind in parentheses)
    titles = {p.title for b in dashboards.all_dashboards(DEFAULTS) for p in b.panels()}
    named = 0
    for alert in alerts.all_alerts(DEFAULTS):
        rb = alert.runbook
        for mention in re.findall(r"(?<!\*)\*([^*]+)\*(?!\*)", " ".join((rb.meaning, rb.confirm, rb.action, rb.behaviour))):
            named += 1
            assert any(title.startswith(mention) for title in titles), f"{alert.name}: no panel {mention!r}"
    assert named >= 8
