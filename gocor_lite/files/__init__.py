# SPDX-License-Identifier: MIT
"""Files in and out: images read and converted at the library's edge
(:mod:`~gocor_lite.files.images`), flows, matches and score maps written out
(:mod:`~gocor_lite.files.export`), weights files read safely
(:mod:`~gocor_lite.files.statedict`), and every file the project ships with how it loads
(:mod:`~gocor_lite.files.weights`; the files themselves are package data in
``gocor_lite/assets/``).

Nothing is imported here, so that importing one module does not load the others.
"""
