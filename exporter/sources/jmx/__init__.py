"""JMX: broker JMX and Java-client JMX, both read through jmxquery's JVM.

* :mod:`.config` — the ``jmx`` configuration section (targets, discovery, auth, TLS);
* :mod:`.query` — the JVM side: one jmxquery call per target, bounded in parallel;
* :mod:`.rows` — jmxquery rows and recorded dumps, the parsing both sources share;
* :mod:`.broker_records` / :mod:`.client_records` — what each source collects, and its pure parser;
* :mod:`.broker_specs` / :mod:`.client_specs` — their metric specs;
* :mod:`.broker` / :mod:`.client` — the two sources (jobs, collection, emission).
"""
