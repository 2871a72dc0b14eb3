"""githeal's benchmarks: ``python -m bench`` (or ``make bench``) prints figures and ratios, not verdicts.

One module per benchmark (``cycle``, ``edit``, ``memory``, ``heal``); ``fleet`` builds the N-app world
they share.
Benchmarks are not tests: ``tests/bench`` only checks that they run on tiny sizes.
"""
