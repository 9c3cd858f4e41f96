"""The console's message catalogues: both languages say the same things, every word the
modules and the page look up exists, none is dead, and no English is left in the code.

The modules look words up with `t("key")`, `tn("key", count)` (plural forms: `key.one`,
`key.other`, chosen by Intl.PluralRules) and `term("kind", value)` (a value of the API's
vocabulary: `kind.value`, else the value as it came). The page's template names keys as
`${key}`.
"""

from __future__ import annotations

import re
from string import Formatter

import pytest
from starlette.applications import Starlette
from starlette.testclient import TestClient

from services.console.pages import LANGUAGES, STATIC, catalogue, choose_language, page_routes

JS = sorted((STATIC / "js").rglob("*.js"))
LOOKUP = re.compile(r"""\b(t|tn|term)\(\s*"([^"]+)\"""")
WORDS = re.compile(r"""words\["([^"]+)"\]""")
TEMPLATE = re.compile(r"\$\{([a-z][a-z0-9_.]*)\}")
COMMENT = re.compile(r"^\s*//.*$|\s//\s.*$", re.MULTILINE)
# A string literal that reads as English words for people ("Sign in", "No holds.").
PROSE = re.compile(r"""(?<![\w.])["'`]([A-Z][a-z]+(?:[ /][A-Za-z()]+)*[.:!?]?)["'`]""")
NOT_PROSE = {"Bearer"}  # protocol words, not shown


def sources() -> dict[str, str]:
    return {str(path.relative_to(STATIC)): COMMENT.sub("", path.read_text()) for path in JS}


def used() -> tuple[set[str], set[str], set[str]]:
    """Keys looked up literally, bases of plural lookups, and kinds of terms."""
    keys, plurals, kinds = set(), set(), set()
    for source in sources().values():
        for call, key in LOOKUP.findall(source):
            {"t": keys, "tn": plurals, "term": kinds}[call].add(key)
        keys |= set(WORDS.findall(source))
    keys |= set(TEMPLATE.findall((STATIC / "index.html").read_text()))
    return keys, plurals, kinds


def placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in Formatter().parse(text) if name}


def test_both_catalogues_have_the_same_keys_and_the_same_placeholders() -> None:
    english, chinese = catalogue("en"), catalogue("zh")
    assert sorted(set(english) - set(chinese)) == []
    assert sorted(set(chinese) - set(english)) == []
    for key, text in english.items():
        assert placeholders(chinese[key]) == placeholders(text), key
        assert chinese[key].strip(), key
    assert LANGUAGES == ("en", "zh")
    assert (english["lang.tag"], chinese["lang.tag"]) == ("en", "zh-CN")


def test_every_key_the_modules_and_the_page_use_exists() -> None:
    keys, plurals, kinds = used()
    assert len(keys) > 100  # the scan sees the lookups
    for language in LANGUAGES:
        words = catalogue(language)
        assert sorted(keys - set(words)) == [], language
        for base in plurals:
            assert {f"{base}.one", f"{base}.other"} <= set(words), (language, base)
        for kind in kinds:
            assert any(key.startswith(f"{kind}.") for key in words), (language, kind)


def test_no_key_is_dead() -> None:
    keys, plurals, kinds = used()
    for key in catalogue("en"):
        base, _, _ = key.rpartition(".")
        alive = key in keys or base in plurals or any(key.startswith(f"{kind}.") for kind in kinds)
        assert alive, f"{key} is used nowhere"


def test_no_module_shows_english_of_its_own() -> None:
    """What reads as prose in a module is a catalogue's; the exceptions are the values `term`
    translates (the Opening view's figures keep English names as their stable data-figure)."""
    terms = {key.partition(".")[2] for key in catalogue("en")}
    left = [
        f"{name}: {text}"
        for name, source in sources().items()
        for text in PROSE.findall(source)
        if text not in NOT_PROSE and text not in terms
    ]
    assert left == []


def test_the_scan_would_see_a_literal_left_in_a_module() -> None:
    assert PROSE.findall('h("button", {}, "Sign in")') == ["Sign in"]
    assert PROSE.findall("flash(`Hold lifted.`)") == ["Hold lifted."]
    assert LOOKUP.findall('t("a.b", { x: 1 }) + tn("c", 2) + term("d", v)') == [
        ("t", "a.b"),
        ("tn", "c"),
        ("term", "d"),
    ]


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("", "en"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        ("zh-Hans-CN", "zh"),
        ("en-US,en;q=0.9,zh;q=0.8", "en"),
        ("fr, zh;q=0.5, en;q=0.4", "zh"),
        ("zh;q=0, en", "en"),
        ("de, fr", "en"),
        ("en;q=nonsense, zh;q=0.1", "zh"),
        (";;,,", "en"),
        ("*", "en"),
    ],
)
def test_accept_language_chooses_the_catalogue(header: str, language: str) -> None:
    assert choose_language(header) == language


def test_the_page_is_rendered_in_the_chosen_language_whole() -> None:
    client = TestClient(Starlette(routes=page_routes()))
    for header, tag in (("zh-CN", "zh-CN"), ("en", "en"), ("", "en")):
        answer = client.get("/", headers={"Accept-Language": header})
        assert answer.status_code == 200
        assert f'<html lang="{tag}">' in answer.text
        assert answer.headers["content-language"] == tag
        assert answer.headers["vary"] == "Accept-Language"
        assert "${" not in answer.text  # every placeholder was filled
        words = catalogue(choose_language(header))
        assert f"<title>{words['shell.title']}</title>" in answer.text
        assert f'href="/console/i18n/{words["lang.id"]}.json"' in answer.text  # preloaded
    # Every text of the page's template is a catalogue's.
    template = (STATIC / "index.html").read_text()
    texts = re.findall(r">([^<]+)<", template)
    assert [text for text in texts if text.strip() and not TEMPLATE.fullmatch(text.strip())] == []
