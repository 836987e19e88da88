"""The markup assistive technology relies on, in the templates every hosted form uses
(login.html and the macros of forms.html)."""

from __future__ import annotations

from html.parser import HTMLParser

import pytest

from idbroker.http.pages import _env, render_page


class Tree(HTMLParser):
    """Elements with their attributes and the text inside each (enough to check wiring)."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.text_of: dict[int, str] = {}
        self._open: list[int] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}))
        if tag not in ("input", "img", "meta", "link", "br"):
            self._open.append(len(self.elements) - 1)
            self.text_of[len(self.elements) - 1] = ""

    def handle_endtag(self, tag: str) -> None:
        if self._open:
            self._open.pop()

    def handle_data(self, data: str) -> None:
        for index in self._open:
            self.text_of[index] += data

    def all(self, tag: str) -> list[tuple[int, dict[str, str]]]:
        return [(i, a) for i, (t, a) in enumerate(self.elements) if t == tag]

    def by_id(self, element_id: str) -> tuple[int, str, dict[str, str]]:
        found = [(i, t, a) for i, (t, a) in enumerate(self.elements) if a.get("id") == element_id]
        assert len(found) == 1, f"id {element_id!r} appears {len(found)} times"
        return found[0]


def login(locale: str = "en", **database: object) -> Tree:
    return Tree(render_page(
        "login.html", locale=locale, client_name="Shop",
        connections=[{"label": "Google", "href": "/authorize?connection=google"},
                     {"label": "GitHub", "href": "/authorize?connection=github"}],
        database={"action": "/usernamepassword/login", "hidden": [("state", "s")],
                  "signup_href": "/lo/signup?x=1", "reset_href": "/lo/forgot?x=1", **database}))


def visible_inputs(tree: Tree) -> list[dict[str, str]]:
    return [a for _, a in tree.all("input") if a.get("type") != "hidden"]


@pytest.mark.parametrize("locale", ["en", "de", "es"])
def test_every_input_has_a_label_and_autocomplete(locale: str) -> None:
    tree = login(locale)
    labels = {a["for"]: tree.text_of[i].strip() for i, a in tree.all("label")}
    inputs = visible_inputs(tree)
    assert [a["autocomplete"] for a in inputs] == ["email", "current-password"]
    for attrs in inputs:
        assert labels.get(attrs["id"]), f"no label for {attrs}"
    assert inputs[0].get("autofocus") == "" and "autofocus" not in inputs[1]
    assert inputs[0]["type"] == "email" and inputs[1]["type"] == "password"
    assert ("html", {"lang": locale}) in tree.elements


def test_username_identifier_uses_username_autocomplete() -> None:
    inputs = visible_inputs(login(identifier="username", value="ann"))
    assert inputs[0]["autocomplete"] == "username" and inputs[0]["type"] == "text"
    assert inputs[0]["value"] == "ann" and "value" not in inputs[1]


def test_a_form_error_is_announced_and_tied_to_the_form() -> None:
    tree = login(error="Wrong email or password.")
    _, form = tree.all("form")[0]
    index, tag, attrs = tree.by_id(form["aria-describedby"])
    assert attrs["role"] == "alert"
    # Said in words, not by colour alone.
    assert tree.text_of[index].split() == ["Error:", "Wrong", "email", "or", "password."]


def test_a_field_error_is_described_by_and_marks_the_input_invalid() -> None:
    macro = _env.get_template("forms.html").make_module(
        {"t": lambda key, **kw: {"form.error": "Fehler:"}[key]})
    tree = Tree(str(macro.field("email", "E-Mail-Adresse", type="email", autocomplete="email",
                                error="Bitte eine gültige Adresse eingeben.",
                                hint="Wir senden keine Werbung.")))
    (_, attrs), = [(i, a) for i, a in tree.all("input")]
    assert attrs["aria-invalid"] == "true"
    hint_id, error_id = attrs["aria-describedby"].split()
    assert tree.by_id(error_id)[2]["role"] == "alert"
    assert tree.text_of[tree.by_id(error_id)[0]].startswith("Fehler: Bitte")
    assert tree.text_of[tree.by_id(hint_id)[0]] == "Wir senden keine Werbung."


def test_buttons_and_links_say_what_they_do() -> None:
    tree = login("de")
    links = [tree.text_of[i].strip() for i, _ in tree.all("a")]
    assert links == ["Passwort vergessen?", "Registrieren", "Weiter mit Google",
                     "Weiter mit GitHub"]
    assert [tree.text_of[i].strip() for i, _ in tree.all("button")] == ["Anmelden"]
    assert all(a.get("type") == "submit" for _, a in tree.all("button"))


def test_landmarks_and_one_heading() -> None:
    tree = login()
    tags = [t for t, _ in tree.elements]
    assert tags.count("header") == 1 and tags.count("main") == 1 and tags.count("h1") == 1
    assert tags.index("header") < tags.index("main") < tags.index("h1")
    assert "tabindex" not in str(tree.elements)  # the focus order is the reading order


def test_without_a_database_form_nothing_takes_focus_and_the_choice_is_explained() -> None:
    tree = Tree(render_page("login.html", locale="es", client_name="Shop", connections=[
        {"label": "Google", "href": "/authorize?connection=google"}]))
    assert not tree.all("input") and "autofocus" not in str(tree.elements)
    (i, attrs), = tree.all("ul")
    assert attrs["aria-label"] == "Opciones de inicio de sesión"
