"""The interview review: the question bank (bank.py) and the files generated from it (generate.py)."""
