"""Evidence of copying: shared fragments weighed by how rare they are, found through an inverted index.

Each exercise has its own index, fragment key -> the notebooks holding it. A fragment held by more
than a few notebooks (RARE_SHARE of those that attempted the exercise, at least MIN_RARE) is what
the assignment makes people write and is never evidence; only pairs that share a rare fragment are
scored, so the cost grows with the class, not with its square. Fragments held by k of the N
notebooks weigh log2(N / k) bits, the surprise of seeing them in both by chance (see score_pairs
for how they are grouped and scaled). A rare fragment that the reference solution does not hold,
in an exercise whose verdict both students failed, is a shared mistake and weighs MISTAKE_FACTOR
times as much. Each exercise is also judged on its own (see weigh_exercises): a student may copy
one function, and a near-complete overlap of an exercise's unusual code is strong evidence even
where the rest of the notebook is their own.
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
#: An exercise is judged on its own when the pair shares at least this share of EACH side's rare
#: fragments in it (a copy of the function shares nearly all; independent students who made some of
#: the same choices share part: at most 0.86 of one side and 0.78 of the other on the generated class)...
WHOLE_OVERLAP = 0.9
#: ...and it holds at least half of a flag's evidence (FLAG_PIECES / 2 whole pieces): a short
#: function, rare or not, never does (one shared line of m fragments is one piece, log2(N/2) x
#: (1 + log2 m) bits, under half a flag for m < 8), so two students who wrote the same short
#: function are never lifted by it.
WHOLE_MIN_SHARE = 0.5
#: Such an exercise then ranks the pair as if the notebook held twice its evidence: the copy of one
#: function above pairs whose smaller overlaps in many exercises add up (measured on the generated
#: classes: docs/similarity.md). It ranks; it does not flag (flags are the notebook's evidence).
WHOLE_FACTOR = 2.0
#: ...but only in an exercise where such a match in that exercise alone is itself unusual in the class:
#: at most this share of the notebooks that attempted it are in one. Where more are, the exercise
#: has too few ways to write it to tell a copy of it from chance (the generated class of 1,000 has
#: 1,522 such pairs in gradient_check, 1.5 per notebook; the class of 31 one per exercise, 0.036),
#: and the notebook's evidence alone ranks.
WHOLE_CHANCE = 0.05


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
    overlap: dict[str, float] = field(default_factory=dict)  # exercise -> their share of the larger side's
    whole_exercise: str = ""  # the exercise judged on its own that ranks the pair ("" if none)

    @property
    def total(self) -> float:
        return sum(self.bits.values())

    @property
    def score(self) -> float:
        """What ranks the pair: the notebook's evidence, or its whole-exercise copy's if that is stronger."""
        if not self.whole_exercise:
            return self.total
        return max(self.total, WHOLE_FACTOR * self.bits[self.whole_exercise])

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
            pair.overlap[exercise] = min(1.0, pair.fragments[exercise] / max(1, rare[i], rare[j]))
            pair.bits[exercise] *= share
            if exercise in pair.mistake_bits:
                pair.mistake_bits[exercise] *= share
    weigh_exercises(list(pairs.values()), flag_bits(len(entries)), index.attempted)
    return sorted(pairs.values(), key=lambda p: (-p.score, entries[p.a].name, entries[p.b].name))


def weigh_exercises(pairs: list[Pair], flag: float, attempted: dict[str, int]) -> None:
    """Judge each exercise on its own: a pair sharing nearly all of both sides' rare code in an exercise
    (WHOLE_OVERLAP), with at least WHOLE_MIN_SHARE of a flag's evidence there, is ranked by it
    (Pair.score) where few pairs match in that exercise alone (WHOLE_CHANCE); the strongest such
    exercise is the one the report names."""
    whole = {}
    alone: dict[str, int] = defaultdict(int)  # exercise -> pairs whose only whole match it is
    for pair in pairs:
        matched = [e for e, bits in pair.bits.items()
                   if pair.overlap.get(e, 0.0) >= WHOLE_OVERLAP and bits >= WHOLE_MIN_SHARE * flag]
        whole[pair.a, pair.b] = matched
        if len(matched) == 1:
            alone[matched[0]] += 1
    for pair in pairs:
        usable = [e for e in whole[pair.a, pair.b] if alone[e] <= WHOLE_CHANCE * attempted.get(e, 0)]
        pair.whole_exercise = max(usable, key=lambda e: (pair.bits[e], e)) if usable else ""


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
