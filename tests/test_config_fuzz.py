"""Bad input (issue 9): well over 1000 generated malformed configurations thrown at config
loading the way `kafka-insight-exporter --check-config --config.file X` does it.

Every one must end in exit status 2 and exactly one clear line on stderr naming the
problem: never a traceback, never a line that echoes a megabyte of input.  The cases are
generated deterministically (seeded) from the schema itself, so new options are fuzzed
too.  Most run in-process through ``cli.main``; a handful through a real subprocess.
"""

from __future__ import annotations

import contextlib
import io
import random
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from exporter import cli, config

ROOT = Path(__file__).resolve().parent.parent
PREFIX = "kafka-insight-exporter: config error: "
#: longest acceptable error line: it must name the problem, not echo the input
MAX_LINE = 600


@dataclass(frozen=True)
class Case:
    name: str
    content: bytes | None  # None: the path itself is the problem
    flag: str = "--config.file"
    path: str | None = None


class HugeInt:
    """An integer of 5000 digits, written into the YAML as such (Python itself refuses to
    turn ints beyond 4300 digits into text, so PyYAML parses it into one that cannot be
    printed)."""

    def __repr__(self) -> str:
        return "HugeInt"


class Dumper(yaml.SafeDumper):
    pass


Dumper.add_representer(HugeInt, lambda d, _: d.represent_scalar("tag:yaml.org,2002:int", "9" * 5000))


def dump(data: Any) -> bytes:
    return yaml.dump(data, Dumper=Dumper, allow_unicode=True).encode()


def nest(dotted: str, value: Any) -> dict[str, Any]:
    *parents, leaf = dotted.split(".")
    node: dict[str, Any] = {leaf: value}
    for part in reversed(parents):
        node = {part: node}
    return node


def leaves(schema: dict[str, Any], prefix: str = "") -> Iterator[tuple[str, config.Opt]]:
    for key, sub in schema.items():
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(sub, config.Opt):
            yield path, sub
        else:
            yield from leaves(sub, path)


def sections(schema: dict[str, Any], prefix: str = "") -> Iterator[str]:
    for key, sub in schema.items():
        if not isinstance(sub, config.Opt):
            path = f"{prefix}.{key}" if prefix else key
            yield path
            yield from sections(sub, path)


HUGE_INT = HugeInt()
NOT_STRINGS: list[Any] = [[], {}, [1, 2], {"a": 1}, 1, 1.5, True, None, [[["x"]]]]
BAD_NUMBERS: list[Any] = ["abc", "", "1,5", "0x1g", True, False, [], {}, None, [1], {"n": 1}, 10**40, -(10**40), HUGE_INT, float("nan"), float("inf"), float("-inf"), -1e308, 1e308, "9" * 5000, "nan", "1e999", "²", "١"]
BAD_BOOLS: list[Any] = ["maybe", "yes", "no", "1", 2, 0, 1.5, [], {}, None, "TRUE ", [True]]
BAD_REGEXES: list[Any] = ["(", "[a-", "*", "a**", "(?P<", "\\", "a{99999999999}", "x{4294967296,}", "(?<=a+)b", "\\N{NOPE}",
                          "(?i", "[z-a]", [1], ["ok", 2], [None], {"a": "b"}, 5, True, [["a"]], ["(" * 200]]
BAD_SERVERS: list[Any] = ["nohost", "host:", ":9092", "h:0", "h:99999", "h:-1", "h:²", "h:" + "9" * 5000, "h:9092:x:", "h:9 092",
                          [1], {}, [["h:1"]], True, 7, "a:1,b", ["h:1", None], "h:٣"]
BAD_ADDRESSES: list[Any] = ["9741", "h:99999", ":²", ":" + "9" * 5000, ":-1", "[::1]", "h:", "", [], 1, None, {"a": 1}, ":٣"]
BAD_LEVELS: list[Any] = ["verbose", "trace", "", 1, [], None, {"a": 1}, "info\n"]
BAD_MAPS: list[Any] = [["a"], "s", 1, True, {"a": [1]}, {"a": {}}, {"a": None}, {1: [1]}, {"sasl.password": "${env:KIE_FUZZ_UNSET}"},
                       {"sasl.password": "${file:/nonexistent/pw}"}, {"sasl.password": "${file:/}"}, {"x.nope": "1"},
                       {"ssl.ca.location": "/nonexistent/ca"}, {"security.protocol": "SASL_NOPE"}, {"sasl.mechanism": "NOPE", "security.protocol": "SASL_SSL"},
                       {"socket.timeout.ms": "-5"}, {"acks": "many"}, {"": "x"}, {"a" * 10000: "x"}, {"debug": "nonsense"}]
BAD_BY_KIND: dict[str, list[Any]] = {
    "str": NOT_STRINGS,
    "int": [*BAD_NUMBERS, 1.5, "1.5", 2**63],
    "float": BAD_NUMBERS,
    "bool": BAD_BOOLS,
    "regexes": BAD_REGEXES,
    "servers": BAD_SERVERS,
    "address": BAD_ADDRESSES,
    "level": BAD_LEVELS,
    "map": BAD_MAPS,
    "list": ["s", 1, {}, True],
}

RAW_YAML: dict[str, str] = {
    "top-level scalar": "42\n",
    "top-level list": "- a\n- b\n",
    "top-level string": "just a string\n",
    "two documents": "a: 1\n---\nb: 2\n",
    "tab indentation": "kafka:\n\tbootstrap_servers: a:1\n",
    "unclosed flow": "kafka: {bootstrap_servers: [a:1\n",
    "bad escape": 'kafka: {bootstrap_servers: "\\x"}\n',
    "python tag": "kafka: !!python/object:os.system {}\n",
    "python name": "a: !!python/name:os.system\n",
    "unknown tag": "kafka: !vault |\n  abc\n",
    "bad binary": "kafka: !!binary '%%%'\n",
    "undefined alias": "kafka: *nope\n",
    "merge of scalar": "a: &a 1\nkafka:\n  <<: *a\n",
    "complex key": "? [a, b]\n: 1\n",
    "bad timestamp": "kafka: !!timestamp 'yesterday'\n",
    "bad int tag": "kafka: !!int 'x'\n",
    "duplicate anchor use as key": "a: &x [1]\n*x : 2\n",
    "NUL byte": "kafka:\x00 1\n",
    "control chars": "kafka: \x07\x08\n",
    "lone surrogate escape": 'a: "\\ud800"\n',
    "only a colon": ":\n",
    "indent mess": "kafka:\n  a: 1\n b: 2\n",
    "deep flow lists": "[" * 5000 + "]" * 5000 + "\n",
    "deep flow maps": "{a: " * 3000 + "1" + "}" * 3000 + "\n",
    "deep block maps": "".join(" " * i + f"k{i}:\n" for i in range(1500)) + " " * 1500 + "v: 1\n",
    "deep unclosed": "[" * 20000 + "\n",
    "bomb at unknown key": "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n",
    "bomb in regexes": "x: &a [a, a, a, a, a, a, a, a, a]\n",
    "bomb in client map": "kafka:\n  client:\n    a: &a [x, x, x, x, x, x, x, x, x]\n    b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
    "    c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n    d: [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n",
    "bomb in filters": "filters:\n  topics:\n    include: &a [[a, a, a, a, a, a, a, a, a], [a, a, a, a, a, a, a, a, a]]\n"
    "    exclude: [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n",
    "recursive alias": "a: &a [*a]\n",
    "huge key": "k" * 200000 + ": 1\n",
    "huge unknown value": "nope: " + "v" * 1000000 + "\n",
    "huge regex": "filters: {topics: {include: ['" + "(" * 100000 + "']}}\n",
    "timeout over interval": "collection: {interval_seconds: 5, timeout_seconds: 10}\n",
}


def generate() -> list[Case]:
    rng = random.Random(9)
    cases: list[Case] = []
    # 1. every option with every wrong value for its kind
    for path, opt in leaves(config.SCHEMA):
        for i, value in enumerate(BAD_BY_KIND[opt.kind]):
            cases.append(Case(f"{path}={i}:{str(value)[:30]!r}", dump(nest(path, value))))
    # 2. unknown keys at every level, close and far from known ones
    for section in ["", *sections(config.SCHEMA)]:
        keys = ["nope", "Kafka", "interval", "include_internals", "1", "ключ", "x" * 300, "with space", "__proto__"]
        for key in keys + ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz_.") for _ in range(rng.randint(1, 20))) for _ in range(3)]:
            data = {key: 1} if not section else nest(section, {key: 1})
            cases.append(Case(f"unknown key {section}.{key[:20]}", dump(data)))
    # 3. whole sections of the wrong type
    for section in [*sections(config.SCHEMA), "jmx"]:
        for value in ([1, 2], "text", 5, True, 1.5, [{"a": 1}]):
            cases.append(Case(f"section {section}={value!r}", dump(nest(section, value))))
    # 4. the jmx section (registered by another feature; fuzzed like the rest)
    jmx_bad: list[Any] = [
        {"timeout_seconds": "x"}, {"timeout_seconds": HUGE_INT}, {"timeout_seconds": float("nan")}, {"max_parallel": 0},
        {"max_parallel": HUGE_INT}, {"java": 5}, {"brokers": "x"}, {"brokers": {"targets": "x"}}, {"brokers": {"targets": [1]}},
        {"brokers": {"targets": [{"address": 5}]}}, {"brokers": {"targets": [{"address": "h:²"}]}},
        {"brokers": {"targets": [{"address": "h:" + "9" * 5000}]}}, {"brokers": {"targets": [{}]}},
        {"brokers": {"targets": ["h:1", "h:1"]}}, {"brokers": {"targets": [{"address": "h:1", "broker_id": "x"}]}},
        {"brokers": {"targets": [{"address": "h:1", "password": "${env:KIE_FUZZ_UNSET}"}]}},
        {"brokers": {"discover": {}}}, {"brokers": {"discover": {"port": 1, "port_base": 1}}}, {"brokers": {"discover": {"port": 0}}},
        {"brokers": {"discover": {"port": HUGE_INT}}}, {"brokers": {"discover": "yes"}}, {"brokers": {"per_topic": "x"}},
        {"clients": "x"}, {"clients": [1]}, {"clients": [{"address": None}]}, {"nope": 1},
    ]
    for i, value in enumerate(jmx_bad):
        cases.append(Case(f"jmx {i}", dump({"jmx": value})))
    # 5. YAML that is broken, hostile or absurd
    for name, text in RAW_YAML.items():
        cases.append(Case(name, text.encode("utf-8", "surrogatepass")))
    # 6. bytes that are not UTF-8
    for i in range(60):
        blob = bytes(rng.randrange(256) for _ in range(rng.randint(1, 400)))
        try:
            blob.decode("utf-8")
            blob += b"\xff\xfe"
        except UnicodeDecodeError:
            pass
        cases.append(Case(f"random bytes {i}", blob))
    cases += [
        Case("latin-1", "kafka: {bootstrap_servers: 'caf\xe9:1'}\n".encode("latin-1")),
        Case("utf-16", "kafka: {}\n".encode("utf-16")),
        Case("truncated utf-8", b"kafka: {bootstrap_servers: '\xe2\x82'}\n"),
    ]
    # 7. files that cannot be read
    cases += [
        Case("missing config file", None, path="/nonexistent/exporter.yml"),
        Case("config file is a directory", None, path="/"),
        Case("config path with NUL", None, path="bad\x00name.yml"),
        Case("config path too long", None, path="/" + "x" * 5000),
        Case("missing web config", None, flag="--web.config.file", path="/nonexistent/web.yml"),
        Case("web config is a directory", None, flag="--web.config.file", path="/"),
        Case("web config not utf-8", b"\xff\xfe\xfa", flag="--web.config.file"),
        Case("web config deep", b"[" * 5000, flag="--web.config.file"),
        Case("web config bomb", RAW_YAML["bomb at unknown key"].encode(), flag="--web.config.file"),
        Case("web config scalar", b"42\n", flag="--web.config.file"),
        Case("web config huge user", dump({"basic_auth_users": {"u" * 100000: "x"}}), flag="--web.config.file"),
        Case("web config users huge int", dump({"basic_auth_users": {"u": HUGE_INT}}), flag="--web.config.file"),
        Case("web config tls list", dump({"tls_server_config": [1]}), flag="--web.config.file"),
        Case("web config tls int cert", dump({"tls_server_config": {"cert_file": 5, "key_file": 6}}), flag="--web.config.file"),
        Case("web config tls dir cert", dump({"tls_server_config": {"cert_file": "/", "key_file": "/"}}), flag="--web.config.file"),
        Case("web config min_version int", dump({"tls_server_config": {"cert_file": "/etc/hostname", "key_file": "/etc/hostname", "min_version": 12}}), flag="--web.config.file"),
    ]
    # 8. random mutations of a valid config: wrong leaves chosen at random, several at once
    options = list(leaves(config.SCHEMA))
    for i in range(150):
        data: dict[str, Any] = {}
        for path, opt in rng.sample(options, rng.randint(1, 4)):
            node = data
            *parents, leaf = path.split(".")
            for part in parents:
                node = node.setdefault(part, {})
            node[leaf] = rng.choice(BAD_BY_KIND[opt.kind])
        cases.append(Case(f"mutation {i}", dump(data)))
    return cases


CASES = generate()


def run_case(case: Case, tmp: Path) -> tuple[int, str, str]:
    path = case.path
    if case.content is not None:
        target = tmp / "case.yml"
        target.write_bytes(case.content)
        path = str(target)
    assert path is not None
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = cli.main(["--check-config", case.flag, path])
        except SystemExit as exc:  # argparse
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException as exc:  # what must never happen
            import traceback

            return -1, out.getvalue(), err.getvalue() + "Traceback (in-process):\n" + "".join(traceback.format_exception(exc))
    return code, out.getvalue(), err.getvalue()


def problems(code: int, err: str) -> str | None:
    if code != 2:
        return f"exit {code}"
    if "Traceback" in err:
        return "traceback"
    if err.count("\n") != 1 or not err.endswith("\n"):
        return f"{err.count(chr(10))} lines"
    if not err.startswith(PREFIX):
        return "no config-error prefix"
    if len(err) > MAX_LINE:
        return f"line of {len(err)} characters"
    if len(err.strip()) <= len(PREFIX) + 5:
        return "says nothing"
    return None


def test_at_least_a_thousand_cases() -> None:
    assert len(CASES) >= 1000, len(CASES)
    assert len({c.name for c in CASES}) == len(CASES)


def test_every_malformed_config_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KIE_FUZZ_UNSET", raising=False)
    for var in ("KAFKA_INSIGHT_CONFIG_FILE", "KAFKA_INSIGHT_WEB_CONFIG_FILE"):
        monkeypatch.delenv(var, raising=False)
    failures = []
    for case in CASES:
        code, _, err = run_case(case, tmp_path)
        problem = problems(code, err)
        if problem:
            failures.append(f"{case.name}: {problem}: {err[-300:]!r}")
    assert not failures, f"{len(failures)} of {len(CASES)} failed:\n" + "\n".join(failures[:25])


@pytest.mark.parametrize("name", ["random bytes 3", "deep flow lists", "filters.topics.include=6:'a{99999999999}'",
                                  "web.listen_address=2:':²'", "missing config file"])
def test_subprocess_matches(name: str, tmp_path: Path) -> None:
    case = next(c for c in CASES if c.name == name)
    path = case.path
    if case.content is not None:
        (tmp_path / "case.yml").write_bytes(case.content)
        path = str(tmp_path / "case.yml")
    assert path is not None
    done = subprocess.run([sys.executable, "-m", "exporter", "--check-config", case.flag, path],
                          capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert problems(done.returncode, done.stderr) is None, done.stderr[-1000:]
