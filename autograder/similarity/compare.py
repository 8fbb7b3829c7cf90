"""The similarity run: read the class and the known solutions, index them, score the pairs (trusted side)."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .corpus import PARALLEL_FROM, Corpus, Entry, read_class, read_known
from .evidence import (Identical, Index, Pair, build_index, flag_bits, groups, identical_forms, reference_keys,
                       score_pairs)
from .exercises import Assignment, load


@dataclass
class Comparison:
    assignment: Assignment
    corpus: Corpus
    entries: list[Entry]  # the class, then the known solutions
    index: Index
    pairs: list[Pair]  # every pair sharing a rare fragment, best first (Pair.score)
    groups: list[list[int]]
    reference: dict[str, frozenset[int]]
    threshold: float  # bits from which a pair is flagged
    identical: list[Identical] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)

    @property
    def flagged(self) -> list[Pair]:
        return [p for p in self.pairs if p.total >= self.threshold]


def compare(source: Path, assignment: str, root: Path, known: Path | None = None, jobs: int = 1,
            parallel_from: int = PARALLEL_FROM) -> Comparison:
    """Compare the class in source (submissions or a graded OUT) with itself and with known solutions;
    a large class is read by `jobs` processes."""
    spec = load(assignment, root)
    corpus = read_class(source, spec, root, jobs, parallel_from)
    extra, messages = read_known(known, spec) if known else ([], [])
    entries = corpus.entries + extra
    index = build_index(entries)
    reference = reference_keys(spec)
    pairs = score_pairs(entries, index, reference)
    threshold = flag_bits(len(entries))
    return Comparison(spec, corpus, entries, index, pairs, groups(pairs, threshold), reference, threshold,
                      identical_forms(entries, index), messages)
