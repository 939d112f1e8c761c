"""Lessons: the learning wiki's ideas as self-checking exercises on the learner's own lab.

A lesson is data (content/<name>/lesson.yaml plus <lang>.md), loaded and validated by
labctl.lessons.loader; each step's probes are read-only kubectl commands run over SSH through the
smoke checks' runner and judged by pure functions (labctl.lessons.judges) on their output.
"""
