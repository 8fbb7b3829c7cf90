"""Feedback pages (trusted side): the student's markup rendered inert, the judge's verdicts, bundles for the LMS."""
