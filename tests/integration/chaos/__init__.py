"""Fault-injection tests of reliability.md #1-#6 against real processes (marked ``chaos``)."""
