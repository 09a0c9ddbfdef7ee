"""Applications that the process tests run in real `porch run` processes.

They take their knobs from TESTAPP_* environment variables, so that a test can point them at
files in its own temporary directory.
"""
