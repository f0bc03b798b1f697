"""The sign diagnosis against a plain recomputation from the methods' own explanations."""

from __future__ import annotations

import numpy as np
import pytest

from ib_nlp import Classifier
from ib_nlp.text.diagnostics import diagnose_signs
from ib_nlp.text.methods import load_method

TEXTS = ["the movie was good and the acting was great", "a terrible boring film with bad acting", "i loved this story, the music was beautiful"]


def test_occlusion_agrees_with_itself_and_a_method_matches_a_plain_recomputation(tiny_bert):
    classifier = Classifier.load(tiny_bert)
    rows = diagnose_signs(classifier, TEXTS, ["occlusion", "gradient_x_input"])
    assert rows[0] == ["occlusion", "1.000 ± 0.000", "1.000 ± 0.000", "1.000 ± 0.000"]

    occlusion, gradient = load_method("occlusion", classifier), load_method("gradient_x_input", classifier)
    signs, pearsons, magnitudes = [], [], []
    for text in TEXTS:
        reference = occlusion.explain(text)
        keep = [i for i, special in enumerate(reference.special_tokens) if not special]
        effect = np.array(reference.token_scores)[keep]
        scores = np.array(gradient.explain(text, reference.target).token_scores)[keep]
        clear = np.abs(effect) > np.median(np.abs(effect))
        signs.append(np.mean(np.sign(scores[clear]) == np.sign(effect[clear])))
        pearsons.append(np.corrcoef(scores, effect)[0, 1])
        magnitudes.append(np.corrcoef(np.abs(scores[clear]), np.abs(effect[clear]))[0, 1])
    expected = [f"{np.mean(v):.3f} ± {np.std(v, ddof=1) / np.sqrt(len(v)):.3f}" for v in (signs, pearsons, magnitudes)]
    assert rows[1] == ["gradient_x_input", *expected]


def test_a_misspelt_method_is_refused_before_any_text_is_explained(tiny_bert):
    from ib_nlp import InvalidInputError

    with pytest.raises(InvalidInputError, match="unknown attribution method 'gradient_x_inptu'"):
        diagnose_signs(Classifier.load(tiny_bert), TEXTS, ["gradient_x_inptu"])
