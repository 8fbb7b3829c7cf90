"""`python -m autograder.gradescope`: grade the submission in $AUTOGRADER_GRADESCOPE_ROOT (run_autograder calls it)."""
import sys

from .run import main

sys.exit(main())
