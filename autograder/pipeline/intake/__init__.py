"""Intake (trusted side): what an instructor hands in, LMS downloads and rosters, read safely into submitted/."""
