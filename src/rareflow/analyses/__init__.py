"""Analyses: pure functions of Ibis tables -> findings. No file I/O, no printing, no engine
imports; the store executes what they build."""
