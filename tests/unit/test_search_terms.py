"""The tokens that find words too short for a trigram index (`bot.models.search_terms`), and
how a query's words are split between the two indexes."""

from __future__ import annotations

from bot.models import Record, search_terms
from bot.records.search import Query, _Words


def test_chinese_text_gives_each_character_and_each_pair_of_neighbours() -> None:
    assert search_terms("规则改").split() == ["规", "规则", "则", "则改", "改"]


def test_pairs_stop_at_punctuation_and_at_other_scripts() -> None:
    terms = set(search_terms("负载，均衡30秒").split())
    assert {"负载", "均衡", "秒"} <= terms
    assert "载均" not in terms  # a comma stands between them
    assert "衡3" not in terms and "衡秒" not in terms


def test_other_words_give_their_first_one_and_two_characters_lowercased() -> None:
    assert search_terms("Reboot UI on edge-3 at 30s").split() == [
        "r", "re", "u", "ui", "o", "on", "e", "ed", "3", "a", "at", "30",
    ]  # fmt: skip


def test_each_term_is_kept_once() -> None:
    assert search_terms("ok OK Ok 好好") == "o ok 好 好好"


def test_the_orm_keeps_the_terms_with_the_text() -> None:
    record = Record(text="修改规则")
    assert record.search_terms == search_terms("修改规则")
    record.text = "UI 改"
    assert record.search_terms == "u ui 改"


def test_a_querys_words_go_to_the_index_that_finds_them() -> None:
    words = _Words.of(Query(words=["防火墙规则", "规则", "则", "UI", "30"]).words)
    assert words.long == ("防火墙规则",)
    assert words.short == ("规则", "则", "u", "ui", "3", "30")
    assert words.found_in("修改防火墙规则 UI 30s", search_terms("修改防火墙规则 UI 30s"))
    assert not words.found_in("修改防火墙规则 build 30s", search_terms("修改防火墙规则 build 30s"))
