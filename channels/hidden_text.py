"""Text an HTML mail hides from its reader must not reach the agent either.

A mail client shows what CSS lets it show; a sender can put instructions for a machine in
text nobody sees (``display:none``, ``visibility:hidden``, a zero font size or opacity,
white on white, pushed off-screen, clipped away). ``remove_hidden`` deletes every element
the reader would not see, by its inline style, its HTML attributes and the rules of the
mail's own ``<style>`` blocks (simple selectors, as mail clients support them). What cannot
be judged (an unknown colour name) is kept: the text is the customer's, hiding must be plain.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from bs4 import BeautifulSoup, Tag
from bs4.element import NavigableString
from soupsieve import SelectorSyntaxError

Declarations = dict[str, str]

_RULE = re.compile(r"([^{}]+)\{([^{}]*)\}")
_COMMENT = re.compile(r"/\*.*?\*/", re.DOTALL)
_NUMBER = re.compile(r"^(-?\d*\.?\d+)\s*([a-z%]*)$")
_HEX = re.compile(r"#([0-9a-f]{3,8})\b")
_RGB = re.compile(r"rgba?\(\s*([\d.]+%?)\s*[, ]\s*([\d.]+%?)\s*[, ]\s*([\d.]+%?)"
                  r"(?:\s*[,/]\s*([\d.]+%?))?\s*\)")
# The colour names mail uses to hide text (light on light, dark on dark) and the common ones.
_NAMED: Mapping[str, tuple[int, int, int]] = {
    "white": (255, 255, 255), "snow": (255, 250, 250), "ivory": (255, 255, 240),
    "whitesmoke": (245, 245, 245), "ghostwhite": (248, 248, 255), "azure": (240, 255, 255),
    "mintcream": (245, 255, 250), "floralwhite": (255, 250, 240), "seashell": (255, 245, 238),
    "linen": (250, 240, 230), "honeydew": (240, 255, 240), "aliceblue": (240, 248, 255),
    "black": (0, 0, 0), "silver": (192, 192, 192), "gray": (128, 128, 128),
    "grey": (128, 128, 128), "red": (255, 0, 0), "green": (0, 128, 0), "blue": (0, 0, 255),
    "yellow": (255, 255, 0), "navy": (0, 0, 128), "maroon": (128, 0, 0),
}
WHITE = (255, 255, 255)  # what mail clients show a message on
MIN_CONTRAST = 1.5  # WCAG asks 4.5 for reading; below 1.5 nobody sees the text
MIN_FONT_PX = 2.0


def declarations(style: str) -> Declarations:
    out: Declarations = {}
    for part in style.split(";"):
        name, sep, value = part.partition(":")
        if sep:
            out[name.strip().lower()] = value.replace("!important", "").strip().lower()
    return out


def _length_px(value: str) -> float | None:
    match = _NUMBER.match(value.strip())
    if match is None:
        return None
    number, unit = float(match.group(1)), match.group(2)
    scale = {"": 1.0, "px": 1.0, "pt": 4 / 3, "em": 16.0, "rem": 16.0, "%": 0.16, "vw": 10.0,
             "vh": 10.0, "ex": 8.0, "ch": 8.0}.get(unit)
    return number * scale if scale is not None else None


def _colour(value: str) -> tuple[int, int, int] | None:
    """An opaque colour; None for none, unknown, or (partly) transparent."""
    value = value.strip()
    if value in _NAMED:
        return _NAMED[value]
    if (match := _HEX.search(value)) is not None:
        digits = match.group(1)
        if len(digits) in {3, 4}:
            digits = "".join(c * 2 for c in digits)
        if len(digits) == 8 and int(digits[6:], 16) < 255:
            return None
        if len(digits) in {6, 8}:
            return (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16))
        return None
    if (match := _RGB.search(value)) is not None:
        def channel(text: str) -> int:
            return round(float(text[:-1]) * 2.55) if text.endswith("%") else round(float(text))
        if match.group(4) is not None:
            alpha = match.group(4)
            if (float(alpha[:-1]) / 100 if alpha.endswith("%") else float(alpha)) < 1:
                return None
        return (channel(match.group(1)), channel(match.group(2)), channel(match.group(3)))
    return None


def _transparent(value: str) -> bool:
    value = value.strip()
    if value == "transparent":
        return True
    hex_match = _HEX.search(value)
    if hex_match is not None and len(hex_match.group(1)) in {4, 8}:
        digits = hex_match.group(1)
        return int(digits[-1] * 2 if len(digits) == 4 else digits[-2:], 16) == 0
    rgb = _RGB.search(value)
    return rgb is not None and rgb.group(4) is not None and float(
        rgb.group(4).rstrip("%")) == 0


def _luminance(rgb: tuple[int, int, int]) -> float:
    def linear(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else ((s + 0.055) / 1.055) ** 2.4
    r, g, b = (linear(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    la, lb = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (la + 0.05) / (lb + 0.05)


def hides(decls: Mapping[str, str]) -> bool:
    """Whether these declarations alone make an element's text invisible."""
    if decls.get("display") == "none" or decls.get("mso-hide") == "all":
        return True
    if decls.get("visibility") in {"hidden", "collapse"}:
        return True
    if (opacity := decls.get("opacity")) is not None:
        try:
            if float(opacity.rstrip("%")) <= (1 if opacity.endswith("%") else 0.01):
                return True
        except ValueError:
            pass
    if (size := decls.get("font-size")) is not None:
        px = _length_px(size)
        if px is not None and px < MIN_FONT_PX:
            return True
    if "color" in decls and _transparent(decls["color"]):
        return True
    overflow_hidden = decls.get("overflow") == "hidden" or decls.get("overflow-y") == "hidden"
    for name in ("max-height", "height", "max-width", "width"):
        px = _length_px(decls[name]) if name in decls else None
        if px is not None and px <= 1 and overflow_hidden:
            return True
    if decls.get("clip", "").replace(" ", "").startswith("rect(0") or \
            decls.get("clip-path", "").replace(" ", "") in {"inset(50%)", "inset(100%)",
                                                              "circle(0)", "circle(0px)"}:
        return True
    for name in ("text-indent", "left", "top", "margin-left", "margin-top"):
        px = _length_px(decls[name]) if name in decls else None
        if px is not None and px <= -500:
            return True
    transform = decls.get("transform", "").replace(" ", "")
    return transform.startswith(("scale(0)", "scale(0,", "scalex(0)", "scaley(0)"))


def _background(decls: Mapping[str, str], tag: Tag) -> tuple[int, int, int] | None:
    for value in (decls.get("background-color"), decls.get("background"),
                  str(tag.get("bgcolor") or "").lower() or None):
        if value:
            found = _colour(value)
            if found is not None:
                return found
    return None


def _text_colour(decls: Mapping[str, str], tag: Tag) -> tuple[int, int, int] | None:
    value = decls.get("color") or (str(tag.get("color") or "").lower()
                                   if tag.name == "font" else "")
    return _colour(value) if value else None


def _sheet_rules(soup: BeautifulSoup) -> dict[int, Declarations]:
    """Each element's declarations from the mail's <style> blocks, in document order."""
    found: dict[int, Declarations] = {}
    for style in soup.find_all("style"):
        text = _COMMENT.sub("", style.get_text())
        for selectors, body in _RULE.findall(text):
            decls = declarations(body)
            for selector in selectors.split(","):
                selector = selector.strip()
                if not selector or selector.startswith("@"):
                    continue
                try:
                    matched = soup.select(selector)
                except (SelectorSyntaxError, NotImplementedError, ValueError):
                    continue  # a pseudo-class or syntax a mail client would ignore too
                for tag in matched:
                    found.setdefault(id(tag), {}).update(decls)
    return found


def remove_hidden(soup: BeautifulSoup) -> None:
    """Delete from ``soup`` every element, and every piece of text, its reader would not see.

    Walked with a stack, not recursion: a mail may nest thousands of elements."""
    sheet = _sheet_rules(soup)
    hidden: list[Tag | NavigableString] = []
    stack: list[tuple[Tag, tuple[int, int, int], tuple[int, int, int] | None]] = [
        (top, WHITE, None) for top in soup.children if isinstance(top, Tag)]
    while stack:
        tag, background, colour = stack.pop()
        decls = {**sheet.get(id(tag), {}), **declarations(str(tag.get("style") or ""))}
        if tag.has_attr("hidden") or hides(decls) or (
                tag.name == "input" and str(tag.get("type", "")).lower() == "hidden"):
            hidden.append(tag)
            continue
        background = _background(decls, tag) or background
        colour = _text_colour(decls, tag) or colour
        invisible = colour is not None and contrast(colour, background) < MIN_CONTRAST
        for child in tag.children:
            if isinstance(child, Tag):
                stack.append((child, background, colour))
            elif invisible and isinstance(child, NavigableString) and child.strip():
                hidden.append(child)  # white on white: this text, not the visible children
    for node in hidden:
        node.extract()
