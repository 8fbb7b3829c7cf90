"""The grader of gradient_checking_lab: checks.py (CHECKS), reference.py, dependencies.py; it builds on
gradient_checking's network (its reference and cases)."""
