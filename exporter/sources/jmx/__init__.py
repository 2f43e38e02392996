"""JMX: broker JMX and Java-client JMX, both read through one long-lived JVM in the JMX worker process.

* :mod:`.config` — the ``jmx`` configuration section (targets, discovery, auth, TLS);
* :mod:`.query` — one query per target (jmxquery's pattern syntax), bounded in parallel;
* :mod:`.worker` — the JMX worker process: one JVM (JPype1), a connection per target, timeouts;
* :mod:`.rows` — jmxquery rows and recorded dumps, the parsing both sources share;
* :mod:`.broker_records` / :mod:`.client_records` — what each source collects, and its pure parser;
* :mod:`.broker_specs` / :mod:`.client_specs` — their metric specs;
* :mod:`.broker` / :mod:`.client` — the two sources (jobs, collection, emission).
"""
