"""RSS 2.0 and Atom documents -> feed items. Pure: bytes in, items out, no I/O.

A feed comes from a remote server, so it is untrusted input. ``xml.etree`` (through expat) does not
fetch external entities, but it does expand entities declared in a document's DTD, which is how
"billion laughs" bombs work. ``defusedxml`` is not a dependency here, so :func:`parse_feed` refuses
any document with a ``<!DOCTYPE`` (RSS 2.0 and Atom never need one) before a single entity is read.
"""

from __future__ import annotations

import hashlib
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

__all__ = ["FeedError", "FeedItem", "parse_feed"]

_ATOM = "{http://www.w3.org/2005/Atom}"


class FeedError(Exception):
    """The document is not a feed this source can read (or is refused as unsafe)."""


@dataclass(frozen=True, slots=True)
class FeedItem:
    """One RSS ``<item>`` or Atom ``<entry>``."""

    key: str
    """What identifies the item: its guid (RSS) or id (Atom), else its link, else a digest of
    its title and summary."""
    title: str
    link: str
    summary: str
    published: datetime | None
    """Publication time (RSS ``pubDate``; Atom ``published``, else ``updated``), in UTC."""


class _RefusingDoctype(ET.TreeBuilder):
    """Builds the tree, but stops at a DOCTYPE, before its entity declarations are read."""

    def doctype(self, name: str, pubid: str | None, system: str | None) -> None:
        raise FeedError(f"refused: the document has a DOCTYPE ({name}); feeds need none")


def parse_feed(document: bytes) -> list[FeedItem]:
    """The items of an RSS 2.0 or Atom ``document``, in document order.

    Raises :class:`FeedError` for malformed XML, a DOCTYPE, or another kind of document.
    """
    # A DOCTYPE is refused by the target, before any entity is declared (see the module doc).
    parser = ET.XMLParser(target=_RefusingDoctype())  # noqa: S314
    try:
        parser.feed(document)
        root = parser.close()
    except ET.ParseError as exc:
        raise FeedError(f"not well-formed XML: {exc}") from None
    if root.tag == "rss":
        return [_rss_item(item) for item in root.iterfind("channel/item")]
    if root.tag == f"{_ATOM}feed":
        return [_atom_entry(entry) for entry in root.iterfind(f"{_ATOM}entry")]
    raise FeedError(f"not an RSS 2.0 or Atom feed (root element <{root.tag}>)")


def _rss_item(item: ET.Element) -> FeedItem:
    title, link = _text(item, "title"), _text(item, "link")
    summary = _text(item, "description")
    return FeedItem(
        key=_text(item, "guid") or link or _digest(title, summary),
        title=title,
        link=link,
        summary=summary,
        published=_rfc822_time(_text(item, "pubDate")),
    )


def _atom_entry(entry: ET.Element) -> FeedItem:
    links = entry.findall(f"{_ATOM}link")
    alternate = next((lnk for lnk in links if lnk.get("rel", "alternate") == "alternate"), None)
    link = (alternate.get("href") or "").strip() if alternate is not None else ""
    title = _text(entry, f"{_ATOM}title")
    summary = _text(entry, f"{_ATOM}summary") or _text(entry, f"{_ATOM}content")
    return FeedItem(
        key=_text(entry, f"{_ATOM}id") or link or _digest(title, summary),
        title=title,
        link=link,
        summary=summary,
        published=_rfc3339_time(_text(entry, f"{_ATOM}published"))
        or _rfc3339_time(_text(entry, f"{_ATOM}updated")),
    )


def _text(parent: ET.Element, path: str) -> str:
    # itertext: an Atom text construct of type="xhtml" holds a <div>, not plain text.
    element = parent.find(path)
    return "".join(element.itertext()).strip() if element is not None else ""


def _digest(*parts: str) -> str:
    return "sha256:" + hashlib.sha256("\0".join(parts).encode("utf-8")).hexdigest()


def _rfc822_time(text: str) -> datetime | None:
    try:
        return _utc(parsedate_to_datetime(text)) if text else None
    except (TypeError, ValueError):
        return None


def _rfc3339_time(text: str) -> datetime | None:
    try:
        return _utc(datetime.fromisoformat(text)) if text else None
    except ValueError:
        return None


def _utc(moment: datetime) -> datetime:
    # A time without a zone (RFC 822's "-0000") is taken as UTC.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
