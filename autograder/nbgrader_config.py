"""nbgrader configuration for the dspatterns course (loaded by ../nbgrader_config.py).

Source notebooks live in solutions/, the student versions nbgrader generates in exercises/, and all
instructor state (submissions, autograded copies, feedback, the gradebook, the exchange) under
instructor/, which git ignores.
"""
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from nbconvert.preprocessors import ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor  # noqa: E402
from nbgrader.preprocessors import (  # noqa: E402
    AssignLatePenalties, CheckCellMetadata, ClearHiddenTests, ClearOutput, DeduplicateIds, GetGrades,
    IgnorePattern, LimitOutput, OverwriteKernelspec, SaveAutoGrades)

from autograder.nbgrader_plugin import QuietOverwriteCells, SandboxGrading  # noqa: E402

c = get_config()  # noqa: F821  (provided by traitlets when nbgrader loads this file)
os.makedirs(os.path.join(ROOT, "instructor"), exist_ok=True)

c.CourseDirectory.root = ROOT
c.CourseDirectory.course_id = "dspatterns"
c.CourseDirectory.source_directory = "solutions"
c.CourseDirectory.release_directory = "exercises"
c.CourseDirectory.submitted_directory = os.path.join("instructor", "submitted")
c.CourseDirectory.autograded_directory = os.path.join("instructor", "autograded")
c.CourseDirectory.feedback_directory = os.path.join("instructor", "feedback")
c.CourseDirectory.db_url = "sqlite:///" + os.path.join(ROOT, "instructor", "gradebook.db")
c.CourseDirectory.ignore = [".ipynb_checkpoints", "*.pyc", "__pycache__", "feedback", ".dsp-notes.json"]

c.ClearSolutions.code_stub = {"python": "# YOUR CODE HERE\nraise NotImplementedError()"}

# Warn about edited graded cells only when they differ from what students received.
c.Autograde.sanitize_preprocessors = [
    ClearOutput, DeduplicateIds, OverwriteKernelspec, QuietOverwriteCells, CheckCellMetadata,
]
# Grade outside the student's kernel: SandboxGrading takes the place of nbgrader's Execute.
c.Autograde.autograde_preprocessors = [
    SandboxGrading, IgnorePattern, ClearMetadataPreprocessor, LimitOutput, SaveAutoGrades,
    AssignLatePenalties, CheckCellMetadata,
]

# Feedback shows graded cells as students received them: without the hidden-tests region.
c.GenerateFeedback.preprocessors = [GetGrades, ClearHiddenTests, CSSHTMLHeaderPreprocessor]
