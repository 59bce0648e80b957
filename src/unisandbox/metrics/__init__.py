"""Metrics: accuracy, intervals, paired tests, the understanding-generation gap, judge agreement."""
