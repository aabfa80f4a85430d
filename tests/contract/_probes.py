"""Entries that answer, hang and crash on purpose: the fuzz campaign's watchdog under test."""
import os
import time

ENTRIES = {"answer": None, "hang": None, "crash": None}


def classify(entry, case):
    """Behave as the entry named by ``case`` says."""
    if case == "hang":
        time.sleep(60)
    if case == "crash":
        os._exit(3)
    return "ok", ""
