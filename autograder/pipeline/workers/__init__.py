"""Grading workers (trusted side, each grading one untrusted notebook at a time): local pool or Dask."""
