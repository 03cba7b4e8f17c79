"""The stdlib-only base every other package stands on: error types, atomic writing, default paths.

It imports nothing of lrcn and nothing outside the standard library, so `models`, `runtime`,
`train`, `export` and `bench` can all depend on it without an arrow pointing back up.
"""
