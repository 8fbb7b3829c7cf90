"""The trusted judge: student code runs in a limited child process; verdicts are made here."""
