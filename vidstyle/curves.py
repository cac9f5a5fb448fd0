"""Keyframed curves: how much style, and which style, over time (``--strength "0:0, 1s:1, 9s:1, 10s:0"``).

A curve is comma-separated ``KEY:VALUE`` pairs. A key is a frame number (``48``) or a time counted from the
start of the input (``1s``, ``1.5s``, ``00:12``, ``00:00:12.5``); the value is the part after the *last* colon.
Keys must increase. Before the first key the first value holds, after the last key the last value; in between
values are interpolated ``linear``-ly or ``smooth``-ly (smoothstep, ``3f² − 2f³``: no kink at the keys).

Values are vectors, so one curve type serves both uses: strength curves hold one number in [0, 1]
(:func:`parse_strength`), style curves one-hot weights over the styles (:func:`parse_style_curve`: a key naming
style ``b`` holds weight 1 on ``b``; halfway between an ``a`` key and a ``b`` key the weights are ½, ½).

Frame ``i`` is at time ``i / fps`` (the reader's average rate; for a variable-rate clip that is an approximation).

>>> c = parse_strength("0:0, 1s:1")
>>> c.scalar_at(5, fps=10)
0.5
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

from .errors import VidstyleError

#: Interpolation between keys.
INTERPOLATIONS: tuple[str, ...] = ("linear", "smooth")

_SECONDS = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)s$")
_CLOCK = re.compile(r"^(?:(\d+):)?(\d+):(\d+(?:\.\d*)?)$")  # [hh:]mm:ss[.fff]
_FRAME = re.compile(r"^\d+$")


@dataclass(frozen=True)
class Key:
    """Where a curve key is: a frame index (``frame``) or a time in seconds from the input's start (``seconds``)."""

    frame: int | None = None
    seconds: float | None = None

    def position(self, fps: float | Fraction | None, what: str) -> float:
        """The key's position in frames (fractional for times)."""
        if self.frame is not None:
            return float(self.frame)
        assert self.seconds is not None
        if not fps:
            raise VidstyleError(f"{what}: time keys need the clip's frame rate, which is unknown; use frame numbers")
        return self.seconds * float(fps)

    def __str__(self) -> str:
        return str(self.frame) if self.frame is not None else f"{self.seconds:g}s"


def parse_key(text: str, what: str = "curve") -> Key:
    """``"48"`` → frame 48; ``"1.5s"``, ``"00:12"``, ``"00:00:12.5"`` → seconds.

    Raises:
        VidstyleError: anything else (one line, naming ``what``).
    """
    t = text.strip()
    if _FRAME.match(t):
        return Key(frame=int(t))
    m = _SECONDS.match(t)
    if m:
        return Key(seconds=float(m.group(1)))
    m = _CLOCK.match(t)
    if m:
        hours, minutes, seconds = int(m.group(1) or 0), int(m.group(2)), float(m.group(3))
        if seconds >= 60 or (m.group(1) is not None and minutes >= 60):
            raise VidstyleError(f"{what}: bad time {t!r} (minutes and seconds go up to 59)")
        return Key(seconds=3600 * hours + 60 * minutes + seconds)
    hint = " (frame numbers are whole; write 2.5s for seconds)" if re.match(r"^\d*\.\d+$", t) else ""
    raise VidstyleError(f"{what}: bad key {t!r}{hint}; keys are frame numbers (48) or times (1.5s, 00:12, "
                        "00:00:12.5)")


@dataclass(frozen=True)
class Curve:
    """Keyframed values over a clip.

    Attributes:
        keys: ``(key, value)`` pairs in the order given; each value a tuple of floats (length 1 for strengths).
        interp: ``linear`` or ``smooth``.
        what: the option's name, for error messages (``--strength``).
        text: the curve as written.
    """

    keys: tuple[tuple[Key, tuple[float, ...]], ...]
    interp: str = "linear"
    what: str = "curve"
    text: str = ""

    def positions(self, fps: float | Fraction | None) -> list[float]:
        """Key positions in frames; raises a one-line :class:`VidstyleError` unless they increase."""
        pos = [k.position(fps, self.what) for k, _ in self.keys]
        for (a, pa), (b, pb) in zip(zip(self.keys, pos), zip(self.keys[1:], pos[1:])):
            if pb <= pa:
                raise VidstyleError(f"{self.what}: keys must increase, but {b[0]} comes after {a[0]} in {self.text!r}")
        return pos

    def check(self, fps: float | Fraction | None) -> None:
        """Fail now (one line) if the keys cannot be placed on this clip (unknown rate, not increasing)."""
        self.positions(fps)

    def at(self, frame: float, fps: float | Fraction | None) -> tuple[float, ...]:
        """The value at frame index ``frame`` (held before the first and after the last key)."""
        pos = self.positions(fps)
        values = [v for _, v in self.keys]
        if frame <= pos[0]:
            return values[0]
        if frame >= pos[-1]:
            return values[-1]
        j = next(i for i, p in enumerate(pos) if p > frame)
        f = (frame - pos[j - 1]) / (pos[j] - pos[j - 1])
        if self.interp == "smooth":
            f = f * f * (3 - 2 * f)
        return tuple(a + f * (b - a) for a, b in zip(values[j - 1], values[j]))

    def scalar_at(self, frame: float, fps: float | Fraction | None) -> float:
        """:meth:`at` for one-number curves (strengths)."""
        return self.at(frame, fps)[0]

    @property
    def peak(self) -> float:
        """The largest first component over the keys (a strength curve's maximum)."""
        return max(v[0] for _, v in self.keys)


def parse_curve(text: str, value: Callable[[str], tuple[float, ...]], what: str = "curve",
                interp: str = "linear") -> Curve:
    """Parse ``"KEY:VALUE, KEY:VALUE, …"`` with ``value`` turning each value's text into a tuple of floats
    (``value`` raises :class:`VidstyleError` or ``ValueError`` for a bad one).

    Raises:
        VidstyleError: one line naming ``what``, the bad part and what is allowed.
    """
    if interp not in INTERPOLATIONS:
        raise VidstyleError(f"{what}: interpolation must be one of {', '.join(INTERPOLATIONS)}, got {interp!r}")
    if not isinstance(text, str) or not text.strip():
        raise VidstyleError(f"{what}: empty curve; write KEY:VALUE pairs such as \"0:0, 1s:1\"")
    keys = []
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        if ":" not in part:
            raise VidstyleError(f"{what}: {part!r} is not KEY:VALUE (e.g. \"0:0, 1s:1\")")
        k, v = part.rsplit(":", 1)
        try:
            val = value(v.strip())
        except ValueError as e:
            raise VidstyleError(f"{what}: bad value {v.strip()!r} at key {k.strip()!r} ({e})") from None
        keys.append((parse_key(k, what), val))
    if not keys:
        raise VidstyleError(f"{what}: empty curve; write KEY:VALUE pairs such as \"0:0, 1s:1\"")
    curve = Curve(tuple(keys), interp, what, text.strip())
    if all(k.frame is not None for k, _ in keys) or all(k.seconds is not None for k, _ in keys):
        curve.check(1.0)  # same kind of key throughout: the order is known without the frame rate
    return curve


def _unit_number(text: str) -> tuple[float, ...]:
    try:
        x = float(text)
    except ValueError:
        raise ValueError("a number in [0, 1] is needed") from None
    if not math.isfinite(x) or not 0.0 <= x <= 1.0:
        raise ValueError("values are in [0, 1]")
    return (x,)


def parse_strength(value: float | int | str, what: str = "--strength", interp: str = "linear") -> float | Curve:
    """A strength — a number in [0, 1] (also as text, ``"0.5"``) — or a keyframed curve of such numbers.

    Raises:
        VidstyleError: out of range, or a malformed curve (one line).
    """
    if isinstance(value, bool):
        raise VidstyleError(f"{what}: must be a number in [0, 1] or a curve, got {value!r}")
    if isinstance(value, (int, float)):
        number = float(value)
    else:
        try:
            number = float(value)
        except (TypeError, ValueError):
            return parse_curve(str(value), _unit_number, what, interp)
    if not math.isfinite(number) or not 0.0 <= number <= 1.0:
        raise VidstyleError(f"{what}: must be in [0, 1], got {value!r}")
    return number


def style_names(styles: Sequence[object]) -> list[str]:
    """What a style curve may call each style: its file stem (tensors: ``style0``, ``style1``, …)."""
    return [Path(str(s)).stem if not hasattr(s, "shape") else f"style{i}" for i, s in enumerate(styles)]


def parse_style_curve(text: str, names: Sequence[str], what: str = "--style-curve",
                      interp: str = "linear") -> Curve:
    """A curve over styles, ``"0:a, 5s:a, 7s:b"``: each value names a style by its stem (``names``) or its 0-based
    index; the curve's values are one-hot weight vectors over ``names``.

    Raises:
        VidstyleError: an unknown style, or a malformed curve (one line).
    """
    def one_hot(v: str) -> tuple[float, ...]:
        if v in names:
            i = list(names).index(v)
        elif v.isdigit() and int(v) < len(names):
            i = int(v)
        else:
            raise ValueError(f"not one of the styles {', '.join(names)} or an index 0–{len(names) - 1}")
        return tuple(1.0 if j == i else 0.0 for j in range(len(names)))

    return parse_curve(text, one_hot, what, interp)


def check_style_curve_syntax(text: str, what: str = "style_curve") -> None:
    """Check a style curve's form without knowing the styles (config validation): keys parse, values are names."""
    def name(v: str) -> tuple[float, ...]:
        if not v:
            raise ValueError("a style name or index is needed")
        return (0.0,)

    parse_curve(text, name, what)


__all__ = ["INTERPOLATIONS", "Curve", "Key", "check_style_curve_syntax", "parse_curve", "parse_key",
           "parse_strength", "parse_style_curve", "style_names"]
