"""Artifact names and digests cannot address anything outside their root (examples + fuzzing)."""

from __future__ import annotations

import ntpath
import os
import posixpath
import tempfile
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from modelyard.artifacts.paths import parse_digest, safe_relpath
from modelyard.core.errors import InvalidArgument

ESCAPES = [
    "../x",
    "..",
    "/etc/passwd",
    "//server/share",
    "a/../../b",
    "a/..",
    "C:\\x",
    "C:x",
    "c:/x",
    "a\\..\\b",
    "..\\x",
    "\\\\server\\share",
    "a\x00b",
    "\x00",
    "",
    ".",
    "./",
    "/",
    "a/\nb",
    "x" * 256,
    "a/" * 2100,
    "\udc80",
    "a:b",
    "0:x",
    "./C:/x",
    ".. /x",
    "a/...",
    "a/ ",
    "\\x",
    "a\\...\\b",
    "a\\ \\b",
]


@pytest.mark.parametrize("name", ESCAPES)
def test_escaping_or_malformed_names_are_rejected(name: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        safe_relpath(name)
    assert "\n" not in str(info.value).replace("\\n", "")  # one line
    assert str(info.value).startswith("invalid artifact name")


@pytest.mark.parametrize(
    "name, normal",
    [
        ("model.pkl", "model.pkl"),
        ("a/b/c.txt", "a/b/c.txt"),
        ("./a//b/./c", "a/b/c"),
        ("dir/", "dir"),
        ("..a/b..", "..a/b.."),
        ("données/é.txt", "données/é.txt"),
        ("ab:c", "ab:c"),
        # A backslash is a character of a POSIX name (refused on Windows, where it separates).
        pytest.param("a\\b.csv", "a\\b.csv", marks=pytest.mark.skipif(os.name != "posix", reason="POSIX")),
        pytest.param("./d//x\\y", "d/x\\y", marks=pytest.mark.skipif(os.name != "posix", reason="POSIX")),
    ],
)
def test_valid_names_are_normalised(name: str, normal: str) -> None:
    assert safe_relpath(name) == normal
    assert safe_relpath(normal) == normal


def test_non_string_is_rejected() -> None:
    with pytest.raises(InvalidArgument):
        safe_relpath(b"a")  # type: ignore[arg-type]


ROOT = Path(tempfile.gettempdir()).resolve() / "modelyard-paths-root"

# Names built from the pieces attackers use, plus fully arbitrary text.
_pieces = st.sampled_from(
    ["..", ".", "", "a", "b.txt", "C:", "c:", "0:", ".. ", "\\", "\\\\", "/", "//", "~", "\x00", ":", " ", "é"]
)
_crafted = st.lists(_pieces, max_size=8).map("".join)
_joined = st.lists(st.one_of(_pieces, st.text(max_size=4)), max_size=6).map("/".join)
names = st.one_of(_crafted, _joined, st.text(max_size=40))


@settings(max_examples=2000, deadline=None)
@given(names)
@example("a/../../b")
@example("....//....//etc")
def test_whatever_is_accepted_stays_inside_the_root(name: str) -> None:
    try:
        relative = safe_relpath(name)
    except InvalidArgument:
        return
    assert safe_relpath(relative) == relative  # normal form is a fixed point
    assert "\x00" not in relative and ("\\" not in relative or os.name == "posix")  # a POSIX name char
    # POSIX: joined and resolved (no symlinks under a fresh root), it stays inside.
    resolved = (ROOT / relative).resolve()
    assert resolved != ROOT and resolved.is_relative_to(ROOT)
    assert posixpath.normpath(posixpath.join(str(ROOT), relative)).startswith(str(ROOT) + "/")
    # Windows semantics too, so a store shared with Windows clients is safe.
    win_root = "C:\\modelyard\\root"
    joined = ntpath.normpath(ntpath.join(win_root, relative))
    assert joined.startswith(win_root + "\\"), joined
    assert ntpath.splitdrive(joined)[0] == "C:"


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=140))
def test_parse_digest_accepts_only_well_formed_digests(text: str) -> None:
    try:
        algorithm, hex_digest = parse_digest(text)
    except InvalidArgument:
        return
    assert text == f"{algorithm}:{hex_digest}"
    assert set(hex_digest) <= set("0123456789abcdef")
    assert os.sep not in hex_digest and "/" not in hex_digest


def test_parse_digest_examples() -> None:
    assert parse_digest("sha256:" + "0" * 64) == ("sha256", "0" * 64)
    assert parse_digest("blake2b:" + "f" * 128) == ("blake2b", "f" * 128)
    for bad in ["sha256:" + "0" * 64 + "\n", "SHA256:" + "0" * 64, "sha256:/" + "0" * 63, "md5:" + "0" * 32]:
        with pytest.raises(InvalidArgument):
            parse_digest(bad)
