"""Support code for the dspatterns course: simulations, widgets and testing helpers.

This package ships to students. It must never import ``autograder`` (which never ships).
"""
