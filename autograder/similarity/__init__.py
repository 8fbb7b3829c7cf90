"""Similarity between students' solutions: evidence of copying for an instructor to review (trusted side).

Student code is only parsed (ast), never run; everything shown from it in the report is escaped.
"""
