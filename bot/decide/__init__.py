"""The pure decision core: ``memory.remember`` then ``planner.plan`` turn a Snapshot into a Plan.

``triggers`` reads each policy's ``when`` per cycle, ``memory`` keeps streaks between cycles,
``remedies`` builds the candidate heal, ``scaling`` does the replica maths, ``guardrails`` holds
heals back using ``history`` (what Git and GitHub say). Nothing here does I/O or reads the clock.
"""
