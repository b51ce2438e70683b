"""Class names as people type them: matching by name, and the ``--classes`` filter.

A filter keeps the detections of some classes only (people on a street, cars at a
gate). It is applied with the thresholds, after the network, so changing it never
runs the network again.
"""

from __future__ import annotations

import difflib
import unicodedata
from typing import Collection, Iterable, Sequence

import numpy as np

from .errors import LiveDetError


def normalise_class_name(name: str) -> str:
    """"Dining Table", "dining_table" and "diningtable" are the same class; so are "Ü" typed as one letter
    and as U plus its accent (as macOS writes names), which the accent dropped as punctuation told apart."""
    return "".join(ch for ch in unicodedata.normalize("NFC", str(name)).casefold() if ch.isalnum())


def resolve_classes(requested: Iterable[str], class_names: Sequence[str]) -> frozenset[int]:
    """Class names (any case, spaces or underscores) or indices -> the model's class indices.

    An unknown name is one ``LiveDetError`` line that suggests the nearest name and lists the rest; ``all``
    alone (unless the model has a class of that name) is every class, as the app's ``--classes all`` is.
    """
    index_of = {normalise_class_name(name): i for i, name in enumerate(class_names)}
    if isinstance(requested, str):  # one name or index: "14" was read as the classes 1 and 4
        requested = [requested]
    requested = [item for item in requested if str(item).strip()]  # "all," or "person," as the app reads them
    wanted = [normalise_class_name(item) for item in requested]
    if wanted == ["all"] and "all" not in index_of:
        return frozenset(range(len(class_names)))
    if "all" in wanted and "all" not in index_of:  # it said "unknown class 'all'", a word it takes alone
        raise LiveDetError("'all' (every class) goes alone: --classes all, or name the classes to keep")
    chosen = set()
    for item in requested:
        text = str(item).strip()
        if not text:
            continue
        if text.isascii() and text.isdigit():  # not "²", which isdigit() accepts and int() refuses
            if int(text) >= len(class_names):
                raise LiveDetError(f"class index {text} is out of range: the model has {len(class_names)} classes "
                                   f"(0-{len(class_names) - 1})")
            chosen.add(int(text))
            continue
        index = index_of.get(normalise_class_name(text))
        if index is None:
            near = difflib.get_close_matches(text, list(class_names), n=1)
            hint = f" (did you mean '{near[0]}'?)" if near else ""
            listed = ", ".join(class_names[:30]) + (", …" if len(class_names) > 30 else "")
            raise LiveDetError(f"unknown class '{text}'{hint}; the model knows: {listed}")
        chosen.add(index)
    if not chosen:
        raise LiveDetError("--classes names no class (give names or indices, comma-separated: person,car)")
    return frozenset(chosen)


def class_ids_named(names: Iterable[str] | None, class_names: Sequence[str]) -> frozenset[int] | None:
    """The indices of those ``names`` this model has; ``None`` (no filter) when it has none of them,
    so a filter chosen for another model never hides everything."""
    if names is None:
        return None
    if isinstance(names, str):  # one name: "person" was seven one-letter names, none a class, so no filter
        names = [names]
    wanted = {normalise_class_name(n) for n in names}
    ids = frozenset(i for i, name in enumerate(class_names) if normalise_class_name(name) in wanted)
    return ids or None


def class_indices(classes: str | Collection[int | str] | None, class_names: Sequence[str]) -> frozenset[int] | None:
    """What the API's ``classes=`` may be, as the model's class indices (None: every class).

    Indices are checked against the model (an index past its last class selected nothing, unsaid); names, or
    a mix, go through ``resolve_classes``; one string is one name or index ("14" was the classes 1 and 4); an
    empty collection is refused, as ``resolve_classes`` refuses an empty list.
    """
    if classes is None:
        return None
    classes = [classes] if isinstance(classes, str) else list(classes)  # a generator is read once
    if not classes:  # kept nothing, unsaid, where the CLI refuses --classes ""; a filter built empty is a slip
        raise LiveDetError("classes names no class: give class names or indices, or None for every class")
    if all(isinstance(item, (int, np.integer)) and not isinstance(item, bool) for item in classes):
        chosen = frozenset(int(item) for item in classes)
        outside = sorted(i for i in chosen if not 0 <= i < len(class_names))
        if outside:
            raise LiveDetError(f"class index {outside[0]} is out of range: the model has {len(class_names)} classes "
                               f"(0-{len(class_names) - 1})")
        return chosen
    return resolve_classes([str(item) for item in classes], class_names)
