# The course's nbgrader configuration lives in autograder/; run nbgrader commands from this folder.
c = get_config()  # noqa: F821
load_subconfig("autograder/nbgrader_config.py")  # noqa: F821
