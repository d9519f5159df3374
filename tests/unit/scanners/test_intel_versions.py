"""Version strings as banners print them order the way their vendors release them."""

from __future__ import annotations

import pytest

from chalicelib.scanners.intel.versions import VersionError, parse_version, try_parse

ORDERED = [  # each pair: older, newer
    ("2.4.49", "2.4.50"), ("2.4.9", "2.4.10"), ("8.5p1", "9.7p1"), ("9.7p1", "9.8p1"), ("9.2", "9.2p1"),
    ("9.2p1", "9.2p2"), ("1.3.5", "1.3.5a"), ("1.3.5a", "1.3.5b"), ("1.3.5e", "1.3.6rc1"), ("1.3.6rc1", "1.3.6"),
    ("9.0.0.M1", "9.0.0"), ("9.0.0.M1", "9.0.0.M10"), ("8.0.0.RC1", "8.0.0"), ("10.1.0-M1", "10.1.0"),
    ("11.1.2", "11.1.2-h1"), ("11.1.2-h1", "11.1.2-h3"), ("11.1.2-h3", "11.1.3"), ("8.1R15", "8.1R15.1"),
    ("9.0R3.3", "9.0R3.4"), ("22.7R2.4", "22.7R2.5"), ("13.1-49.13", "13.1-49.15"), ("13.0-92.19", "13.1-1.1"),
    ("10.2.0.8-37sv", "10.2.0.9-41sv"), ("15.2.792.3", "15.2.792.10"), ("10.5.0.5", "10.5.0.5 build 1234"),
    ("4.92", "4.92.1"), ("2.426.3", "2.427"), ("7.0.12", "7.2.0"), ("1.18.0", "1.18.1"), ("8.5", "8.5.1"),
]


@pytest.mark.parametrize(("older", "newer"), ORDERED)
def test_versions_order_as_released(older: str, newer: str) -> None:
    assert parse_version(older) < parse_version(newer)
    assert not parse_version(newer) < parse_version(older)


def test_trailing_zeros_do_not_count() -> None:
    assert parse_version("7.0") == parse_version("7.0.0") == parse_version("7")
    assert hash(parse_version("7.0")) == hash(parse_version("7.0.0"))
    assert parse_version("9.0.0.M1") != parse_version("9.0.0")


def test_a_distribution_suffix_after_the_version_word_is_ignored() -> None:
    assert parse_version("9.2p1 Debian 2+deb12u3") == parse_version("9.2p1")


def test_cycle_membership_uses_the_leading_numbers() -> None:
    assert parse_version("2.4.49").in_cycle(parse_version("2.4"))
    assert parse_version("7.0.12").in_cycle(parse_version("7.0"))
    assert not parse_version("7.4.1").in_cycle(parse_version("7.0"))
    assert not parse_version("1.180").in_cycle(parse_version("1.18"))


@pytest.mark.parametrize("text", ["", "unknown", "Debian", "x1.2"])
def test_text_without_a_leading_number_is_not_a_version(text: str) -> None:
    with pytest.raises(VersionError):
        parse_version(text)
    assert try_parse(text) is None
