"""The grader of gradient_checking: checks.py (CHECKS), reference.py, cases.py, dependencies.py."""
