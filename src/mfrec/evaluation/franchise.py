"""Franchise check of similar items: whether an item's top-K holds its sequels and companions.

Franchise check of similar items: does an item's top-K hold its sequels and companions?

A film's neighbours should be the films its fans also love, and the clearest case is the rest
of its franchise (sequels, prequels, the other parts of a trilogy). This module finds such groups
automatically from the catalogue's titles, with one general rule and no hand-picked films, and
scores a model's ``similar_items`` against them.

The title rule (:func:`franchise_keys`), applied to each title without its year:

1. drop parenthesised parts (alternative and foreign titles: "Leon (a.k.a. The Professional)"),
   a trailing article after a comma ("Godfather: Part II, The"), and a leading article;
   lower-case, "&" becomes "and", punctuation is removed;
2. split at the first colon into a main title and a subtitle ("Star Wars: Episode IV - ...");
3. from the main title remove, repeatedly, a trailing sequel marker: a number 2-12, a fraction
   ("2 1/2"), a Roman numeral II-XII, or "part"/"chapter"/"episode" followed by a number or
   numeral (I-XII), and "part deux";
4. remove a leading "return of", "revenge of", "bride of", "son of", "curse of" (and a following
   article);
5. what remains (at least 3 characters, not only digits) is the title's *stem*; when no other
   title shares it, the subtitle, reduced the same way and of at least two words, may link the
   title to the title whose stem it is ("Lost World: Jurassic Park" joins "Jurassic Park").

Titles sharing a key are linked, and a *franchise group* is a connected set of at least two
items whose normalised titles are not all the same (same-title remakes, "Hamlet" 1948/1990/1996,
are not a franchise). Groups are formed among the items with at least ``min_count`` training
interactions (rarely rated items are not fair targets: their factors carry little signal).

Measures of a model, over every member q of every group (the *queries*) with companions
C(q) = the other members of its group and N_K(q) its top-K similar items (query excluded):

    hit rate@K    = mean_q [ |N_K(q) ∩ C(q)| > 0 ]
    recall@K      = mean_q |N_K(q) ∩ C(q)| / min(|C(q)|, K)

The rule is deliberately simple: a few groups are not franchises in the strict sense (parodies
sharing a stem: "Dracula" and "Dracula: Dead and Loving It"), and franchises without a shared
stem are missed ("Batman Returns", "Aliens"). It is the same for every model, so it compares
them fairly; the groups it finds on MovieLens are listed by ``python -m
mfrec.evaluation.franchise DATASET`` for review by eye.
"""
from __future__ import annotations

import re
from typing import Optional, Sequence

import numpy as np

#: neighbours per query
DEFAULT_K = 10
#: queries and companions need at least this many training interactions
DEFAULT_MIN_COUNT = 20

_ROMAN = ["i", "ii", "iii", "iv", "v", "vi", "vii", "viii", "ix", "x", "xi", "xii"]
_NUMBER = r"(?:[2-9]|1[0-2])"
_NUMERAL = "|".join(sorted(_ROMAN[1:], key=len, reverse=True))
_ANY_NUMERAL = "|".join(sorted(_ROMAN, key=len, reverse=True))
_TRAILING_MARKERS = [
    re.compile(rf"\s+(?:part|chapter|episode)\s+(?:\d+|{_ANY_NUMERAL})$"),
    re.compile(r"\s+part\s+deux$"),
    re.compile(r"\s+\d+\s+\d+/\d+$"),             # "naked gun 2 1/2"
    re.compile(rf"\s+(?:{_NUMBER}|{_NUMERAL})$"),
]
_LEADING = re.compile(r"^(?:return|revenge|bride|son|curse)\s+of\s+(?:the\s+|a\s+)?")
_ARTICLE_LEADING = re.compile(r"^(?:the|a|an)\s+")
_ARTICLE_TRAILING = re.compile(r",\s*(?:the|a|an|les|la|le|l'|il|el|das|der|die)\s*$", re.IGNORECASE)
_PARENS = re.compile(r"\s*\([^)]*\)")
_PUNCT = re.compile(r"[^a-z0-9/: ]+")


def _clean(text: str) -> str:
    text = text.lower().replace("&", " and ")
    text = _PUNCT.sub(" ", text)
    return " ".join(text.split())


def _strip_markers(text: str) -> str:
    """Apply steps 3-4 of the rule on an already cleaned title part."""
    changed = True
    while changed:
        changed = False
        for pattern in _TRAILING_MARKERS:
            shorter = pattern.sub("", text)
            if shorter != text and shorter.strip():
                text, changed = shorter.strip(), True
    text = _ARTICLE_LEADING.sub("", text)
    text = _LEADING.sub("", text)
    return _ARTICLE_LEADING.sub("", text).strip()


def _valid_stem(stem: str) -> bool:
    return len(stem) >= 3 and not stem.replace(" ", "").replace("/", "").isdigit()


def normalized_title(title: str) -> str:
    """Return the title after step 1 (parentheses and articles dropped, lower case, no punctuation)."""
    text = _PARENS.sub("", str(title))
    text = _ARTICLE_TRAILING.sub("", text.strip())
    text = _clean(text.replace(":", " : "))
    return _ARTICLE_LEADING.sub("", text).replace(" : ", ": ").replace(" :", ":")


def franchise_keys(title: str) -> list:
    """Return the keys (stem, and the subtitle's stem when it has two words or more) of one title."""
    text = normalized_title(title)
    main, _, subtitle = text.partition(":")
    keys = []
    stem = _strip_markers(main.strip())
    if _valid_stem(stem):
        keys.append(stem)
    sub = _strip_markers(_clean(subtitle))
    if len(sub.split()) >= 2 and _valid_stem(sub) and sub not in keys:
        keys.append("~" + sub)  # a subtitle key only links to another title's stem
    return keys


def franchise_groups(titles: Sequence[str]) -> list:
    """Group the titles that share a franchise key.

    Groups (lists of positions in ``titles``, sorted) of titles that share a franchise key,
    largest first; groups whose normalised titles are all equal are dropped (see the module
    docstring).
    """
    by_stem: dict = {}
    subtitle_links = []
    for pos, title in enumerate(titles):
        if title is None or (isinstance(title, float) and np.isnan(title)) or str(title) == "":
            continue
        for key in franchise_keys(str(title)):
            if key.startswith("~"):
                subtitle_links.append((pos, key[1:]))
            else:
                by_stem.setdefault(key, []).append(pos)
    parent = list(range(len(titles)))

    def find(a: int) -> int:
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    def union(a: int, b: int) -> None:
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    for members in by_stem.values():
        for other in members[1:]:
            union(members[0], other)
    linked = {p for members in by_stem.values() if len(members) > 1 for p in members}
    for pos, key in subtitle_links:  # only for titles whose own stem links to nothing
        if key in by_stem and pos not in linked:
            union(pos, by_stem[key][0])
            linked.update((pos, by_stem[key][0]))
    groups: dict = {}
    for pos in sorted(linked):
        groups.setdefault(find(pos), []).append(pos)
    out = []
    for members in groups.values():
        if len(members) < 2:
            continue
        if len({normalized_title(titles[p]) for p in members}) < 2:
            continue
        out.append(sorted(members))
    return sorted(out, key=lambda g: (-len(g), g[0]))


def _titles(interactions) -> Optional[list]:
    meta = interactions.item_metadata
    if meta is None or "title" not in meta.columns:
        return None
    return meta["title"].reindex(interactions.item_ids.raw).fillna("").astype(str).tolist()


def item_franchise_groups(interactions, min_count: int = DEFAULT_MIN_COUNT) -> Optional[list]:
    """Return the franchise groups of item indices.

    Franchise groups of item indices among the items with >= ``min_count`` interactions in
    ``interactions``, or None without titles.
    """
    titles = _titles(interactions)
    if titles is None:
        return None
    counts = interactions.item_counts()
    eligible = np.flatnonzero(counts >= min_count)
    groups = franchise_groups([titles[i] for i in eligible])
    return [[int(eligible[p]) for p in group] for group in groups]


def franchise_check(model, k: int = DEFAULT_K, min_count: int = DEFAULT_MIN_COUNT, *,
                    neighbours=None) -> Optional[dict]:
    """Measure the franchise hit rate@k and companion recall@k of a model.

    Franchise hit rate@k and companion recall@k of a fitted model's ``similar_items`` (see the
    module docstring), with the number of groups, within-group pairs and queries; None when the
    training data carry no titles or no group is found.

    ``neighbours(item_indices, k) -> (n, k) int array of item indices`` replaces the model's own
    lookup (for vectors from another library; :mod:`mfrec.evaluation.similar_items`).
    """
    from .similar_items import model_neighbours
    inter = model.interactions_
    groups = item_franchise_groups(inter, min_count)
    if not groups:
        return None
    queries = np.array([q for group in groups for q in group], dtype=np.int64)
    top = (neighbours or model_neighbours(model))(queries, k)
    hits, recalls = [], []
    pos = 0
    for group in groups:
        members = set(group)
        for q in group:
            companions = members - {q}
            found = len(companions.intersection(int(i) for i in top[pos][:k]))
            hits.append(found > 0)
            recalls.append(found / min(len(companions), k))
            pos += 1
    n_pairs = sum(len(g) * (len(g) - 1) // 2 for g in groups)
    return {f"franchise_hit_rate@{k}": float(np.mean(hits)), f"franchise_recall@{k}": float(np.mean(recalls)),
            "groups": len(groups), "pairs": n_pairs, "queries": int(len(queries))}


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Print the franchise groups of a MovieLens data set, for review by eye."""
    import argparse

    from ..datasets import load_movielens
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("dataset", nargs="?", default="1m")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--min-count", type=int, default=DEFAULT_MIN_COUNT)
    args = parser.parse_args(argv)
    data = load_movielens(args.dataset.removeprefix("ml-"), data_dir=args.data_dir)
    groups = item_franchise_groups(data, args.min_count) or []
    titles = data.item_titles(np.arange(data.n_items))
    n_pairs = sum(len(g) * (len(g) - 1) // 2 for g in groups)
    print(f"{len(groups)} groups, {sum(map(len, groups))} items, {n_pairs} pairs "
          f"(items with >= {args.min_count} ratings)")
    for group in groups:
        print(" | ".join(titles[i] for i in group))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
