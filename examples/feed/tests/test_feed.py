"""Feed documents -> items: RSS 2.0 and Atom, fallbacks, dates, and refused documents."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from feed_source.adapter import item_event
from feed_source.feed import FeedError, FeedItem, parse_feed

ATOM = "http://www.w3.org/2005/Atom"


def rss_item(body: str) -> FeedItem:
    [item] = parse_feed(f"<rss version='2.0'><channel><item>{body}</item></channel></rss>".encode())
    return item


def atom_entry(body: str) -> FeedItem:
    [entry] = parse_feed(f"<feed xmlns='{ATOM}'><entry>{body}</entry></feed>".encode())
    return entry


def test_rss_item() -> None:
    item = rss_item(
        "<title>Hello &amp; welcome</title><link> https://example.org/a </link>"
        "<description>&lt;p&gt;Hi&lt;/p&gt;</description><guid>tag:example.org,2026:a</guid>"
        "<pubDate>Sun, 01 Mar 2026 10:30:00 +0100</pubDate>"
    )
    assert item == FeedItem(
        key="tag:example.org,2026:a",
        title="Hello & welcome",
        link="https://example.org/a",
        summary="<p>Hi</p>",
        published=datetime(2026, 3, 1, 9, 30, tzinfo=UTC),
    )


def test_atom_entry() -> None:
    entry = atom_entry(
        "<id>urn:uuid:1225c695</id><title type='html'>A &amp;lt;b&amp;gt; title</title>"
        "<link rel='self' href='https://example.org/self'/>"
        "<link href='https://example.org/entry'/>"
        "<summary type='xhtml'><div xmlns='http://www.w3.org/1999/xhtml'>Some <b>bold</b></div>"
        "</summary><updated>2026-03-02T00:00:00Z</updated>"
        "<published>2026-03-01T12:00:00+02:00</published>"
    )
    assert entry == FeedItem(
        key="urn:uuid:1225c695",
        title="A &lt;b&gt; title",
        link="https://example.org/entry",
        summary="Some bold",
        published=datetime(2026, 3, 1, 10, tzinfo=UTC),
    )


def test_items_in_document_order() -> None:
    items = parse_feed(
        b"<rss><channel><item><guid>b</guid></item><item><guid>a</guid></item></channel></rss>"
    )
    assert [item.key for item in items] == ["b", "a"]
    assert parse_feed(b"<rss><channel><title>empty</title></channel></rss>") == []


@pytest.mark.parametrize(
    ("parse", "body", "published"),
    [
        (rss_item, "<guid>x</guid>", None),
        (rss_item, "<guid>x</guid><pubDate>yesterday</pubDate>", None),
        (rss_item, "<guid>x</guid><pubDate>Sun, 01 Mar 2026 10:30:00 -0000</pubDate>", "10:30"),
        (rss_item, "<guid>x</guid><pubDate>Sun, 01 Mar 2026 10:30:00 GMT</pubDate>", "10:30"),
        (atom_entry, "<id>x</id><updated>2026-03-01T10:30:00Z</updated>", "10:30"),
        (atom_entry, "<id>x</id><published>soon</published>", None),
        (atom_entry, "<id>x</id><published>2026-03-01T10:30:00</published>", "10:30"),
    ],
)
def test_times_are_utc_and_a_bad_date_is_no_date(
    parse: Callable[[str], FeedItem], body: str, published: str | None
) -> None:
    item = parse(body)
    if published is None:
        assert item.published is None
    else:
        assert item.published == datetime.fromisoformat(f"2026-03-01T{published}+00:00")


@pytest.mark.parametrize(
    ("parse", "body", "key"),
    [
        (rss_item, "<link>https://example.org/a</link>", "https://example.org/a"),
        (atom_entry, "<link href='https://example.org/a'/>", "https://example.org/a"),
        (rss_item, "<guid> </guid><link>https://example.org/a</link>", "https://example.org/a"),
    ],
)
def test_without_an_id_the_link_identifies_the_item(
    parse: Callable[[str], FeedItem], body: str, key: str
) -> None:
    assert parse(body).key == key


def test_without_id_or_link_the_content_identifies_the_item() -> None:
    first = rss_item("<title>Only a title</title>")
    assert first.key.startswith("sha256:")
    assert rss_item("<title>Only a title</title>").key == first.key
    assert rss_item("<title>Another title</title>").key != first.key


def test_item_event_attributes() -> None:
    item = atom_entry("<id>urn:x</id><title>T</title>")
    event = item_event(item, feed_url="https://example.org/feed", event_type="t")
    attributes = event.get_attributes()
    assert attributes["id"] == item_event(item, feed_url="file:///f", event_type="u").get_id()
    assert "subject" not in attributes
    assert "time" not in attributes
    assert attributes["datacontenttype"] == "application/json"
    assert event.get_data() == {"title": "T", "link": "", "summary": "", "published": None}


BOMB = (
    '<!DOCTYPE rss [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]>'
    "<rss><channel><item><title>&c;</title></item></channel></rss>"
)


@pytest.mark.parametrize(
    "document",
    [
        BOMB.encode(),
        ('<?xml version="1.0" encoding="utf-16"?>' + BOMB).encode("utf-16"),
        b'<!DOCTYPE rss SYSTEM "file:///etc/passwd"><rss/>',
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY x SYSTEM "http://127.0.0.1/">]><rss>&x;</rss>',
        b"<!DOCTYPE rss><rss/>",
    ],
    ids=["entity-expansion", "entity-expansion-utf16", "external-dtd", "external-entity", "bare"],
)
def test_a_doctype_is_refused(document: bytes) -> None:
    with pytest.raises(FeedError, match="refused: the document has a DOCTYPE"):
        parse_feed(document)


@pytest.mark.parametrize(
    ("document", "reason"),
    [
        (b"", "not well-formed XML"),
        (b"<rss><channel>", "not well-formed XML"),
        (b"<rss>&undefined;</rss>", "not well-formed XML"),
        (b'{"items": []}', "not well-formed XML"),
        (b"<html/>", "not an RSS 2.0 or Atom feed (root element <html>)"),
        (b"<feed/>", "not an RSS 2.0 or Atom feed (root element <feed>)"),
    ],
)
def test_what_is_not_a_feed_is_an_error(document: bytes, reason: str) -> None:
    with pytest.raises(FeedError) as caught:
        parse_feed(document)
    assert reason in str(caught.value)
