"""The API graders use, on the trusted side: results and failures, subjects, comparisons, the
central-difference numerics and mistake recognition. Names no assignment."""
