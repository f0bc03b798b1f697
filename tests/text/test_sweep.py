"""Layer and beta sweeps: same bits as explaining each setting alone, one recording pass per batch."""

from __future__ import annotations

import pytest

from ib_nlp import Classifier, InvalidInputError, PerSampleIBA
from ib_nlp.text.methods.signed_iba import GradientSignedIBA
from ib_nlp.text.sweep import Sweep, sweep_betas, sweep_layers, sweep_layers_and_betas
from ib_nlp.testing import random_classifier

TEXTS = ["the movie was good and the acting was great", "a terrible boring film with bad acting", "i loved it"]
OPTIONS = {"steps": 3, "samples": 2}


@pytest.fixture(scope="module")
def bert(request) -> Classifier:
    return Classifier.load(random_classifier("bert", layers=3))


def test_layer_sweep_equals_explaining_each_layer_alone(bert, reference_texts):
    sweep = sweep_layers(bert, TEXTS, reference_corpus=reference_texts, metric=None, batch_size=2, **OPTIONS)
    assert sweep.settings == ["embeddings", 0, 1, 2] and sweep.best is None
    for position, layer in enumerate(sweep.settings):
        alone = PerSampleIBA(bert, layer, reference_corpus=reference_texts, **OPTIONS).explain_batch(TEXTS)
        for text in range(len(TEXTS)):
            assert sweep.explanations[text][position].token_scores == pytest.approx(alone[text].token_scores, rel=1e-4, abs=1e-5)
            assert sweep.explanations[text][position].layer == layer


def test_layer_sweep_records_all_layers_in_one_pass_per_batch(bert, reference_texts, monkeypatch):
    calls = []
    original = Classifier.capture

    def counting(self, batch, sites):
        if set(batch.texts) <= set(TEXTS):  # not the statistics estimation over the reference corpus
            calls.append(len(sites))
        return original(self, batch, sites)

    monkeypatch.setattr(Classifier, "capture", counting)
    sweep_layers(bert, TEXTS, [0, 2, "embeddings"], reference_corpus=reference_texts, metric=None, batch_size=2, **OPTIONS)
    assert calls == [3, 3]


def test_faithfulness_picks_the_best_setting_in_the_declared_direction(bert, reference_texts, tmp_path):
    sweep = sweep_layers(bert, TEXTS[:2], [0, 2], labels=[1, 0], reference_corpus=reference_texts, metric_options={"steps": 4}, **OPTIONS)
    assert sweep.metric == "degradation" and sweep.metric_value == "lerf_minus_morf" and sweep.higher_is_better
    assert len(sweep.faithfulness) == 2 and sweep.best == sweep.settings[sweep.faithfulness.index(max(sweep.faithfulness))]
    sweep.higher_is_better = False
    assert sweep.best == sweep.settings[sweep.faithfulness.index(min(sweep.faithfulness))]
    path = sweep.save(tmp_path / "sweep.json")
    loaded = Sweep.load(path)
    assert loaded.settings == sweep.settings and loaded.word_matrix(1).tolist() == sweep.word_matrix(1).tolist()
    html = loaded.to_html(0, tmp_path / "sweep.html")
    assert html.count('<th class="layer" scope="row">') == 2 and (tmp_path / "sweep.html").is_file()


def test_beta_sweep_keeps_fewer_bits_as_beta_grows(bert, reference_texts):
    sweep = sweep_betas(bert, TEXTS, [0.01, 1.0, 100.0], layer=1, reference_corpus=reference_texts, metric=None, steps=10, samples=2)
    for text in range(len(TEXTS)):
        totals = [explanation.total_score for explanation in sweep.explanations[text]]
        assert totals[0] > totals[1] > totals[2]
        assert [e.parameters["beta"] for e in sweep.explanations[text]] == [0.01, 1.0, 100.0]
    alone = PerSampleIBA(bert, 1, reference_corpus=reference_texts, beta=100.0, steps=10, samples=2).explain(TEXTS[0])
    assert sweep.explanations[0][2].token_scores == pytest.approx(alone.token_scores, rel=1e-4, abs=1e-5)
    assert sweep.explanations[0][2].kept_probability == pytest.approx(alone.kept_probability, rel=1e-5)


def test_the_grid_report_shows_what_each_setting_kept_of_the_prediction(bert, reference_texts):
    grid = sweep_layers_and_betas(bert, TEXTS, [0.01, 100.0], [1], reference_corpus=reference_texts, metric_options={"steps": 4}, steps=10, samples=2)
    report = grid.report("tiny", 0)
    kept = [[explanation.kept_probability for explanation in row] for row in grid.sweeps[0].explanations], [[e.kept_probability for e in row] for row in grid.sweeps[1].explanations]
    row = next(line for line in report.splitlines() if line.startswith("| 1 |")).strip("| ").split(" | ")
    assert row[-2:] == [f"{sum(r[0] for r in kept[0]) / 3:.3f}", f"{sum(r[0] for r in kept[1]) / 3:.3f}"]
    own = sum(row[0].probabilities[row[0].target] for row in grid.sweeps[0].explanations) / 3
    assert f"(the model's own: {own:.3f})" in report


def test_a_signed_variant_is_swept_as_it_explains_alone(bert, reference_texts, tmp_path):
    """method= sweeps a signed variant: each layer's signed bits are those of the variant run
    alone at that layer, some of them negative, and the method is saved with the sweep."""
    sweep = sweep_layers(bert, TEXTS, [0, 2], reference_corpus=reference_texts, metric=None, batch_size=2, method="gradient_signed_iba", **OPTIONS)
    assert sweep.method == "gradient_signed_iba"
    for position, layer in enumerate(sweep.settings):
        alone = GradientSignedIBA(bert, layer, reference_corpus=reference_texts, **OPTIONS).explain_batch(TEXTS)
        for text in range(len(TEXTS)):
            explanation = sweep.explanations[text][position]
            assert explanation.unit == "signed bits" and explanation.method == "gradient_signed_iba"
            assert explanation.token_scores == pytest.approx(alone[text].token_scores, rel=1e-4, abs=1e-5)
    assert min(min(e.token_scores) for row in sweep.explanations for e in row) < 0
    loaded = Sweep.load(sweep.save(tmp_path / "sweep.json"))
    assert loaded.method == "gradient_signed_iba"
    assert "Gradient-signed IBA: layer sweep" in loaded.to_html(0) and "signed bits" in loaded.to_html(0)
    betas = sweep_betas(bert, TEXTS[:1], [1.0, 10.0], layer=0, reference_corpus=reference_texts, metric=None, method="gradient_signed_iba", **OPTIONS)
    assert [e.parameters["beta"] for e in betas.explanations[0]] == [1.0, 10.0] and betas.explanations[0][0].unit == "signed bits"


def test_a_sweep_refuses_a_method_without_a_bottleneck_listing_the_ones_it_takes(bert):
    with pytest.raises(InvalidInputError, match=r"'integrated_gradients' is not a bottleneck method \(iba, contrastive_iba, gradient_signed_iba, open_signed_iba, closing_signed_iba\)"):
        sweep_layers(bert, TEXTS, method="integrated_gradients")
    with pytest.raises(InvalidInputError, match="unknown attribution method 'igg'"):
        sweep_betas(bert, TEXTS, [1.0], method="igg")


def test_sweeps_refuse_empty_input(bert):
    with pytest.raises(InvalidInputError, match="no texts"):
        sweep_layers(bert, [])
    with pytest.raises(InvalidInputError, match="no betas"):
        sweep_betas(bert, TEXTS, [])


def _scored(settings, values, higher_is_better=True):
    """A sweep with given per-text metric values (no explanations needed for the recommendation)."""
    means = [sum(column) / len(column) for column in values]
    return Sweep("layer", settings, [], metric="degradation", metric_value="lerf_minus_morf", higher_is_better=higher_is_better, faithfulness=means, faithfulness_values=values)


def test_a_lead_within_its_standard_error_is_a_tie_and_the_simpler_setting_is_kept():
    noisy_lead = _scored(["embeddings", 0, 2], [[0.1, 0.1, 0.1, 0.1], [0.80, 0.50, 0.90, 0.60], [0.60, 0.90, 0.50, 0.801]])
    assert noisy_lead.faithfulness[2] > noisy_lead.faithfulness[1]
    assert noisy_lead.tied == [0, 2] and noisy_lead.best == 0, "layer 2 leads by 0.00025 with a standard error of 0.2"
    clear_lead = _scored(["embeddings", 0, 2], [[0.1, 0.1, 0.1, 0.1], [0.50, 0.60, 0.70, 0.80], [0.60, 0.71, 0.79, 0.91]])
    assert clear_lead.tied == [2] and clear_lead.best == 2
    lower_is_better = _scored([0.1, 1.0, 10.0], [[0.5, 0.6, 0.7], [0.25, 0.15, 0.31], [0.2, 0.3, 0.2]], higher_is_better=False)
    assert lower_is_better.best == 1.0 and lower_is_better.tied == [1.0, 10.0]
    assert Sweep.from_dict({**clear_lead.to_dict(), "faithfulness_values": []}).best == 2, "old files: by means"


def test_a_recommendation_that_loses_the_prediction_names_the_best_setting_that_keeps_it(bert, reference_texts):
    grid = sweep_layers_and_betas(bert, TEXTS, [0.01, 100.0], [0, 1], reference_corpus=reference_texts, metric_options={"steps": 4}, steps=3, samples=2)
    own = [row[0].probabilities[row[0].target] for row in grid.sweeps[0].explanations]
    for sweep, share in zip(grid.sweeps, (1.0, 0.5)):
        for row, probability in zip(sweep.explanations, own):
            for explanation in row:
                explanation.metadata["kept_probability"] = share * probability
    scores = {(0, 0): 0.2, (1, 0): 0.3, (0, 1): 0.6, (1, 1): 0.5}  # (layer position, beta position): the cheap price keeps less faithful maps
    for (position, beta), value in scores.items():
        grid.sweeps[beta].faithfulness[position] = value
        grid.sweeps[beta].faithfulness_values[position] = [value] * len(TEXTS)
    lines = grid.report("tiny", 0).splitlines()
    assert lines[-2] == "recommended: layer 0, beta 100 (0.600)"
    assert lines[-1].startswith(f"the recommended setting keeps p = {sum(own) / 6:.3f} through the bottleneck, under 90% of the model's {sum(own) / 3:.3f}: the bits are what")
    assert lines[-1].endswith("the best setting that keeps 90% of it: layer 1, beta 0.01 (0.300)")
    for sweep in grid.sweeps:
        for row, probability in zip(sweep.explanations, own):
            for explanation in row:
                explanation.metadata["kept_probability"] = probability
    assert grid.report("tiny", 0).splitlines()[-1] == "recommended: layer 0, beta 100 (0.600)"
