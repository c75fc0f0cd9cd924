"""Kafka's admin API for a control plane: make sure a topic exists, delete a topic, delete a
consumer group. Every call opens its own connection and closes it (a controller calls these on
the rare Broker or Trigger change, never per event), and turns whatever aiokafka raised into one
:class:`KafkaAdminError` with Kafka's error name."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.conn import create_conn
from aiokafka.errors import KafkaConnectionError, KafkaError, for_code
from aiokafka.protocol.admin import DeleteGroupsRequest

__all__ = ["KafkaAdmin", "KafkaAdminError"]

_TOPIC_ALREADY_EXISTS = 36
_UNKNOWN_TOPIC = 3
_GROUP_ID_NOT_FOUND = 69
_NON_EMPTY_GROUP = 68


class KafkaAdminError(Exception):
    """An admin request failed: Kafka unreachable, or Kafka refused it (the message says why)."""


class KafkaAdmin:
    """Topic and consumer-group administration on the cluster ``options`` name (aiokafka client
    options, ``bootstrap_servers`` among them); ``timeout`` bounds each request."""

    def __init__(self, options: Mapping[str, Any], *, timeout: float = 10.0) -> None:
        self._options = dict(options)
        self._timeout_ms = int(timeout * 1000)

    async def _client(self) -> Any:
        client = AIOKafkaAdminClient(**self._options, request_timeout_ms=self._timeout_ms)
        try:
            await client.start()
        except KafkaError as exc:
            await client.close()
            reason = str(exc)
            if isinstance(exc, KafkaConnectionError):
                reason = await self._why_unreachable() or reason
            raise KafkaAdminError(f"cannot reach Kafka: {reason}") from None
        return client

    async def _why_unreachable(self) -> str | None:
        """Why the first bootstrap server refuses a connection (the client's bootstrap only logs
        it and raises "Unable to bootstrap"): refused credentials or TLS, or unreachable."""
        servers = self._options.get("bootstrap_servers") or []
        if not servers:
            return None
        host, _, port = str(servers[0]).rpartition(":")
        security = (
            "security_protocol", "ssl_context", "sasl_mechanism", "sasl_plain_username",
            "sasl_plain_password",
        )  # fmt: skip
        try:
            connection = await create_conn(
                host.strip("[]"),
                int(port),
                request_timeout_ms=self._timeout_ms,
                **{key: self._options[key] for key in security if key in self._options},
            )
        except (KafkaError, OSError, TimeoutError, ValueError) as exc:
            return f"{servers[0]}: {type(exc).__name__}: {exc}"
        connection.close()
        return None

    async def ensure_topic(self, name: str, *, partitions: int, replication: int) -> bool:
        """Create topic ``name`` unless it exists (an existing topic is left as it is, whatever
        its partitions). Returns True when it was created now."""
        client = await self._client()
        try:
            response = await client.create_topics(
                [NewTopic(name, num_partitions=partitions, replication_factor=replication)],
                timeout_ms=self._timeout_ms,
            )
        except KafkaError as exc:
            raise KafkaAdminError(f"cannot create topic {name}: {exc}") from None
        finally:
            await client.close()
        for _topic, code, *rest in response.topic_errors:
            if code == _TOPIC_ALREADY_EXISTS:
                return False
            if code:
                message = rest[0] if rest and rest[0] else for_code(code).__name__
                raise KafkaAdminError(f"cannot create topic {name}: {message}")
        return True

    async def topics(self) -> list[str]:
        """The names of every topic."""
        client = await self._client()
        try:
            return list(await client.list_topics())
        except KafkaError as exc:
            raise KafkaAdminError(f"cannot list topics: {exc}") from None
        finally:
            await client.close()

    async def delete_topic(self, name: str) -> bool:
        """Delete topic ``name``; False when it did not exist."""
        client = await self._client()
        try:
            response = await client.delete_topics([name], timeout_ms=self._timeout_ms)
        except KafkaError as exc:
            raise KafkaAdminError(f"cannot delete topic {name}: {exc}") from None
        finally:
            await client.close()
        for _topic, code, *_ in response.topic_error_codes:
            if code == _UNKNOWN_TOPIC:
                return False
            if code:
                raise KafkaAdminError(f"cannot delete topic {name}: {for_code(code).__name__}")
        return True

    async def delete_groups(self, groups: Sequence[str]) -> list[str]:
        """Delete the consumer groups ``groups`` (their committed offsets); returns those that
        existed. A group with members still joined cannot be deleted: KafkaAdminError."""
        client = await self._client()
        deleted = []
        try:
            for group in groups:
                try:
                    coordinator = await client.find_coordinator(group)
                except KafkaError as exc:
                    raise KafkaAdminError(f"cannot find group {group}: {exc}") from None
                # aiokafka's admin client has no delete_consumer_groups; the request is its own
                # DeleteGroups protocol message, sent to the group's coordinator.
                response = await client._send_request_to_node(  # noqa: SLF001
                    coordinator, DeleteGroupsRequest([group])
                )
                for _group, code in response.results:
                    if code == _GROUP_ID_NOT_FOUND:
                        continue
                    if code:
                        raise KafkaAdminError(
                            f"cannot delete group {group}: {for_code(code).__name__}"
                        )
                    deleted.append(group)
        except KafkaError as exc:
            raise KafkaAdminError(f"cannot delete groups: {exc}") from None
        finally:
            await client.close()
        return deleted
