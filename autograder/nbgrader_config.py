"""nbgrader configuration for the dspatterns course (loaded by ../nbgrader_config.py).

Source notebooks live in solutions/, the student versions nbgrader generates in exercises/, and all
instructor state (submissions, autograded copies, feedback, the gradebook, the exchange) under
instructor/, which git ignores. The exchange (where released assignments wait for students and
their submissions wait to be collected) is instructor/exchange unless DSP_EXCHANGE names another
folder (or a command says --Exchange.root=...); nbgrader's default, /usr/local/share/nbgrader/exchange,
is never used silently.
"""
import os
import sys

import nbgrader

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)

from nbconvert.preprocessors import (  # noqa: E402
    ClearMetadataPreprocessor, CSSHTMLHeaderPreprocessor, Preprocessor)
from nbgrader.preprocessors import (  # noqa: E402
    AssignLatePenalties, CheckCellMetadata, ClearHiddenTests, ClearOutput, DeduplicateIds, GetGrades,
    IgnorePattern, LimitOutput, NbGraderPreprocessor, OverwriteKernelspec, SaveAutoGrades)

from autograder.grading_run import part_of_cell  # noqa: E402
from autograder.nbgrader_plugin import QuietOverwriteCells, SandboxGrading  # noqa: E402
from autograder.report import part_title  # noqa: E402
from traitlets import Bool, List  # noqa: E402

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
c.Exchange.root = os.environ.get("DSP_EXCHANGE") or os.path.join(ROOT, "instructor", "exchange")
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



class PartTitles(Preprocessor):
    """Names what each graded cell checks (from the registry), for the feedback's table of
    contents; runs before the hidden region, which says which part a cell grades, is cleared."""

    enabled = Bool(True)  # nbconvert preprocessors are off unless enabled; nbgrader's are on

    def preprocess_cell(self, cell, resources, index):
        found = part_of_cell(cell.source) if cell.cell_type == "code" else None
        if found:
            cell.metadata["dspatterns"] = {"title": part_title(*found)}
        return cell, resources


class FeedbackClearHiddenTests(ClearHiddenTests):
    """nbgrader's ClearHiddenTests, minus a false warning on every generate_feedback run: nbconvert
    configures display_data_priority for every preprocessor, and nbgrader's base class redeclares
    it as not configurable (its GetGrades redeclares it configurable, as here)."""

    display_data_priority = List(NbGraderPreprocessor.display_data_priority.default_value).tag(config=True)


# Feedback shows graded cells as students received them: without the hidden-tests region; the
# page is nbgrader's with each graded cell named in its table of contents and wrapping check lines
# (autograder/templates/dsp_feedback/dsp_feedback.html.j2, which extends nbgrader's feedback page).
c.GenerateFeedback.preprocessors = [GetGrades, PartTitles, FeedbackClearHiddenTests,
                                    CSSHTMLHeaderPreprocessor]
c.HTMLExporter.template_name = "dsp_feedback"  # its conf.json: based on nbgrader's "feedback"
c.HTMLExporter.template_file = "dsp_feedback.html.j2"
c.HTMLExporter.extra_template_basedirs = [
    os.path.join(ROOT, "autograder", "templates"),
    os.path.join(os.path.dirname(nbgrader.__file__), "server_extensions", "formgrader", "templates"),
]
