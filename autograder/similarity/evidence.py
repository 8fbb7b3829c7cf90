"""Evidence of copying: shared fragments weighed by how rare they are, found through an inverted index.

Each exercise has its own index, fragment key -> the notebooks holding it. A fragment held by more
than a few notebooks (RARE_SHARE of those that attempted the exercise, at least MIN_RARE) is what
the assignment makes people write and is never evidence; only pairs that share a rare fragment are
scored, so the cost grows with the class, not with its square. Fragments held by k of the N
notebooks weigh log2(N / k) bits, the surprise of seeing them in both by chance (see score_pairs
for how they are grouped and scaled). A rare fragment that the reference solution does not hold,
in an exercise whose verdict both students failed, is a shared mistake and weighs MISTAKE_FACTOR
times as much.
"""
from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

from .corpus import Entry
from .exercises import Assignment
from .fingerprints import fingerprint

#: A fragment held by at most this share of the notebooks that attempted an exercise can be evidence
#: (and by at most MIN_RARE notebooks, whatever the class size): a trio that copied still counts.
RARE_SHARE = 0.05
MIN_RARE = 4
#: A shared wrong construction is the classic sign of copying (two people rarely err the same way),
#: and its class frequency understates that: it weighs three times its rarity.
MISTAKE_FACTOR = 3.0
#: A pair is flagged for review (and joins groups) with at least FLAG_PIECES * log2(N) bits of
#: evidence, N the notebooks compared: about eight whole pieces held by that pair alone. Chosen on
#: the generated classes (docs/similarity.md): no independent pair reached it at N = 31, and 93 %
#: of the pairs flagged at N = 1,000 were copies.
FLAG_PIECES = 8.0


def flag_bits(notebooks: int) -> float:
    """The evidence (bits) from which a pair is flagged, for a comparison of this many notebooks."""
    return FLAG_PIECES * math.log2(max(2, notebooks))


@dataclass
class Pair:
    a: int  # entry indices, a < b
    b: int
    bits: dict[str, float] = field(default_factory=dict)  # exercise -> evidence
    mistake_bits: dict[str, float] = field(default_factory=dict)  # exercise -> part of it from shared mistakes
    fragments: dict[str, int] = field(default_factory=dict)  # exercise -> shared rare fragments
    coverage: dict[str, float] = field(default_factory=dict)  # exercise -> their share of the smaller side's

    @property
    def total(self) -> float:
        return sum(self.bits.values())

    @property
    def top_exercise(self) -> str:
        return max(self.bits, key=self.bits.get) if self.bits else ""


@dataclass
class Index:
    """Per exercise: fragment key -> indices of the entries that hold it, and how many attempted it."""
    postings: dict[str, dict[int, list[int]]]
    attempted: dict[str, int]

    def rare_limit(self, exercise: str) -> int:
        return max(MIN_RARE, math.ceil(RARE_SHARE * self.attempted.get(exercise, 0)))

    def holders(self, exercise: str, key: int) -> int:
        return len(self.postings.get(exercise, {}).get(key, ()))


def build_index(entries: list[Entry]) -> Index:
    postings: dict[str, dict[int, list[int]]] = defaultdict(lambda: defaultdict(list))
    attempted: dict[str, int] = defaultdict(int)
    for i, entry in enumerate(entries):
        for exercise, prints in entry.prints.items():
            attempted[exercise] += 1
            index = postings[exercise]
            for key in prints:
                index[key].append(i)
    return Index({e: dict(p) for e, p in postings.items()}, dict(attempted))


def reference_keys(assignment: Assignment) -> dict[str, frozenset[int]]:
    """exercise -> the keys of the reference solution (a fragment not among them may be a mistake)."""
    return {name: frozenset(fingerprint(code)) for name, code in assignment.reference.items()}


def score_pairs(entries: list[Entry], index: Index, reference: dict[str, frozenset[int]]) -> list[Pair]:
    """Every pair sharing a rare fragment, with its evidence per exercise; best first.

    Fragments held by exactly the same notebooks travel together (a copied line brings all its
    sub-expressions along), so they are one piece of evidence: log2(N/k) bits for the piece, times
    1 + log2(m) for its m fragments (a larger shared piece counts more, but not m times). An
    exercise's evidence is then scaled by the share of the smaller side's rare fragments the pair
    holds in common: a copy shares nearly all of it, two students who made a few of the same
    choices share a part. Two known solutions are never paired: the report is about students."""
    pairs: dict[tuple[int, int], Pair] = {}
    for exercise, postings in index.postings.items():
        limit = index.rare_limit(exercise)
        n = index.attempted[exercise]
        pieces: dict[tuple[tuple[int, ...], bool], int] = defaultdict(int)
        known_right = reference.get(exercise)
        rare: dict[int, int] = defaultdict(int)  # entry -> its rare fragments in this exercise
        for key, holders in postings.items():
            if len(holders) <= limit:
                for i in holders:
                    rare[i] += 1
                if len(holders) >= 2:
                    pieces[(tuple(holders), known_right is not None and key not in known_right)] += 1
        touched: set[tuple[int, int]] = set()
        for (holders, unlike_reference), m in pieces.items():
            k = len(holders)
            bits = math.log2(n / k) * (1 + math.log2(m))
            for x in range(k):
                i = holders[x]
                for y in range(x + 1, k):
                    j = holders[y]
                    if entries[i].known and entries[j].known:
                        continue
                    pair = pairs.get((i, j))
                    if pair is None:
                        pair = pairs[(i, j)] = Pair(i, j)
                    weight = bits
                    if unlike_reference and exercise in entries[i].failing and exercise in entries[j].failing:
                        weight *= MISTAKE_FACTOR
                        pair.mistake_bits[exercise] = pair.mistake_bits.get(exercise, 0.0) + weight
                    pair.bits[exercise] = pair.bits.get(exercise, 0.0) + weight
                    pair.fragments[exercise] = pair.fragments.get(exercise, 0) + m
                    touched.add((i, j))
        for i, j in touched:  # scaled by how much of the smaller side's rare code the pair shares
            pair = pairs[(i, j)]
            share = min(1.0, pair.fragments[exercise] / max(1, min(rare[i], rare[j])))
            pair.coverage[exercise] = share
            pair.bits[exercise] *= share
            if exercise in pair.mistake_bits:
                pair.mistake_bits[exercise] *= share
    return sorted(pairs.values(), key=lambda p: (-p.total, entries[p.a].name, entries[p.b].name))


#: An exercise's code with fewer fragments than this is too short for its identity to say anything.
MIN_IDENTICAL_FRAGMENTS = 15


@dataclass
class Identical:
    """Notebooks whose code for an exercise is the same after normalisation (shown, not weighed)."""
    exercise: str
    members: list[int]
    fragments: int
    attempted: int


def identical_forms(entries: list[Entry], index: Index) -> list[Identical]:
    """Per exercise, the groups of two or more notebooks (at most half of those that attempted it)
    holding exactly the same normalised code, largest code first.

    A form many hold is often what the assignment's hints lead to, so it is not evidence; the
    report lists these so an instructor sees them."""
    found = []
    for exercise, attempted in index.attempted.items():
        forms: dict[frozenset, list[int]] = defaultdict(list)
        for i, entry in enumerate(entries):
            prints = entry.prints.get(exercise)
            if prints and len(prints) >= MIN_IDENTICAL_FRAGMENTS:
                forms[frozenset(prints)].append(i)
        found += [Identical(exercise, members, len(form), attempted)
                  for form, members in forms.items()
                  if 1 < len(members) <= attempted / 2 and not all(entries[i].known for i in members)]
    return sorted(found, key=lambda g: (-g.fragments, -len(g.members), g.exercise))


def groups(pairs: list[Pair], threshold: float) -> list[list[int]]:
    """Connected groups of entries over the flagged pairs (union-find), largest evidence first."""
    parent: dict[int, int] = {}

    def root(i: int) -> int:
        while parent.setdefault(i, i) != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    best: dict[int, float] = {}
    for pair in pairs:
        if pair.total >= threshold:
            parent[root(pair.a)] = root(pair.b)
    members: dict[int, list[int]] = defaultdict(list)
    for i in list(parent):
        members[root(i)].append(i)
    for pair in pairs:
        if pair.total >= threshold:
            r = root(pair.a)
            best[r] = max(best.get(r, 0.0), pair.total)
    found = [sorted(m) for r, m in members.items() if len(m) > 1]
    return sorted(found, key=lambda m: -best[root(m[0])])
