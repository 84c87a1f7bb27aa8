"""The interview review's practice questions (practice.json, generated from the instructor's bank by
`python -m autograder review-notebook`) and the rules for reading an answer (answers.py)."""
