"""Moved to :mod:`exporter.sources.admin.records`; this path is kept only for ``exporter.testing``
(moved out of the package by issue 14) until it imports the new one.  Import from there."""

from exporter.sources.admin.records import GROUP_STATES as GROUP_STATES
from exporter.sources.admin.records import Broker as Broker
from exporter.sources.admin.records import ClusterState as ClusterState
from exporter.sources.admin.records import ConfigValue as ConfigValue
from exporter.sources.admin.records import ConsumerGroup as ConsumerGroup
from exporter.sources.admin.records import GroupMember as GroupMember
from exporter.sources.admin.records import Partition as Partition
from exporter.sources.admin.records import Topic as Topic
