"""Faithful in-process fakes of external systems, so no test ever leaves the machine."""
