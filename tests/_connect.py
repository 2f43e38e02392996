"""A real Kafka Connect worker in distributed mode (../shared/kafka/dist) for the live tests.

One worker: REST on a free port with basic auth (connect-basic-auth-extension, a JAAS file
and a credentials file), remote JMX on a free port, its internal topics with the cluster's
replication factor, and the FileStream connectors in a plugin directory of their own
(Kafka 4.0 keeps connect-file out of the default class path).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from exporter.demo.broker import free_port
from tests.conftest import KAFKA_HOME

#: the Kafka distribution the real cluster runs from (conftest finds it; the live tests skip without one)
DIST = KAFKA_HOME or Path("/nonexistent")
USER, PASSWORD = "connect-admin", "connect-secret"


class ConnectWorker:
    def __init__(self, tmp: Path, bootstrap: str, replication: int = 3, group: str = "kafka-insight-connect") -> None:
        self.tmp = tmp
        self.bootstrap = bootstrap
        self.rest_port = free_port()
        self.jmx_port = free_port()
        self.url = f"http://127.0.0.1:{self.rest_port}"
        self.group = group
        self.replication = replication
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = tmp / "connect.log"

    def _write_config(self) -> Path:
        plugins = self.tmp / "plugins" / "file"
        plugins.mkdir(parents=True, exist_ok=True)
        shutil.copy(DIST / "libs" / "connect-file-4.0.0.jar", plugins)
        creds = self.tmp / "credentials.properties"
        creds.write_text(f"{USER}={PASSWORD}\n")
        jaas = self.tmp / "connect-jaas.conf"
        jaas.write_text(
            "KafkaConnect {\n"
            "  org.apache.kafka.connect.rest.basic.auth.extension.PropertyFileLoginModule required\n"
            f'  file="{creds}";\n'
            "};\n"
        )
        rf = self.replication
        props = {
            "bootstrap.servers": self.bootstrap,
            "group.id": self.group,
            "key.converter": "org.apache.kafka.connect.json.JsonConverter",
            "value.converter": "org.apache.kafka.connect.json.JsonConverter",
            "key.converter.schemas.enable": "false",
            "value.converter.schemas.enable": "false",
            "offset.storage.topic": f"{self.group}-offsets",
            "offset.storage.replication.factor": str(rf),
            "offset.storage.partitions": "3",
            "config.storage.topic": f"{self.group}-configs",
            "config.storage.replication.factor": str(rf),
            "status.storage.topic": f"{self.group}-status",
            "status.storage.replication.factor": str(rf),
            "status.storage.partitions": "3",
            "offset.flush.interval.ms": "2000",
            "listeners": f"http://127.0.0.1:{self.rest_port}",
            "rest.advertised.host.name": "127.0.0.1",
            "rest.advertised.port": str(self.rest_port),
            "plugin.path": str(self.tmp / "plugins"),
            "plugin.discovery": "only_scan",
            "rest.extension.classes": "org.apache.kafka.connect.rest.basic.auth.extension.BasicAuthSecurityRestExtension",
            "connector.client.config.override.policy": "All",
            "scheduled.rebalance.max.delay.ms": "0",
        }
        path = self.tmp / "connect-distributed.properties"
        path.write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        self._jaas = jaas
        return path

    def start(self, timeout: float = 120) -> None:
        config = self._write_config()
        env = dict(os.environ)
        env.update(
            KAFKA_HEAP_OPTS="-Xmx256m -Xms128m",
            KAFKA_OPTS=f"-Djava.security.auth.login.config={self._jaas}",
            KAFKA_JVM_PERFORMANCE_OPTS="-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true",
            JMX_PORT=str(self.jmx_port),
            KAFKA_JMX_OPTS=(
                "-Dcom.sun.management.jmxremote -Dcom.sun.management.jmxremote.authenticate=false"
                " -Dcom.sun.management.jmxremote.ssl=false -Djava.rmi.server.hostname=127.0.0.1"
                f" -Dcom.sun.management.jmxremote.rmi.port={self.jmx_port} -Dcom.sun.management.jmxremote.host=127.0.0.1"
            ),
            LOG_DIR=str(self.tmp / "logs"),
        )
        env.pop("CLASSPATH", None)
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [str(DIST / "bin" / "connect-distributed.sh"), str(config)], stdout=log, stderr=subprocess.STDOUT, env=env
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"Connect worker exited: {self.log.read_text()[-1500:]}")
            try:
                if isinstance(self.get("/connectors"), list):
                    return
            except (OSError, urllib.error.URLError, ValueError):
                pass
            time.sleep(1)
        raise TimeoutError(f"Connect worker did not answer within {timeout} s: {self.log.read_text()[-1500:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    # -- REST ------------------------------------------------------------------------
    def request(self, method: str, path: str, body: Any = None, auth: bool = True) -> Any:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.url + path, data=data, method=method)
        req.add_header("Content-Type", "application/json")
        req.add_header("Accept", "application/json")
        if auth:
            token = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
            req.add_header("Authorization", f"Basic {token}")
        with urllib.request.urlopen(req, timeout=30) as resp:
            text = resp.read()
        return json.loads(text) if text else None

    def get(self, path: str) -> Any:
        return self.request("GET", path)

    def put_config(self, name: str, config: dict[str, str]) -> Any:
        return self.request("PUT", f"/connectors/{name}/config", config)

    def wait_for(self, predicate: Any, timeout: float = 60, what: str = "condition") -> Any:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            try:
                last = predicate()
                if last:
                    return last
            except (OSError, urllib.error.URLError, ValueError, KeyError):
                pass
            time.sleep(0.5)
        raise TimeoutError(f"{what} not reached within {timeout} s (last: {last!r})")

    def task_states(self, name: str) -> list[str]:
        status = self.get(f"/connectors/{name}/status")
        return [t["state"] for t in status.get("tasks", [])]
