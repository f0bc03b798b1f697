"""The notebook explorer, driven from Python: controls change, callbacks run synchronously."""

from __future__ import annotations

import re

import pytest
import torch

from ib_nlp.text.methods import method_names
from ib_nlp.text.classifier import Classifier
from ib_nlp.errors import InvalidInputError
from ib_nlp.testing import random_classifier
from ib_nlp.ui.widgets import METHODS, Explorer, explorer

FAST = {"steps": 2, "samples": 2}
CORPUS = [
    "the movie was good and the acting was great",
    "a terrible boring film with bad acting",
    "i loved this story, the music was beautiful",
    "worst movie ever made, a waste of time",
] * 4


@pytest.fixture(scope="module", autouse=True)
def single_thread():
    """A model this small runs fastest on one thread (and does not fight other jobs for cores)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_pair():
    return random_classifier("bert", layers=3)


@pytest.fixture
def loads(monkeypatch) -> list[object]:
    """Record every load of a model that is not already a Classifier."""
    calls: list[object] = []
    original = Classifier.load.__func__

    def counting(cls, model, tokenizer=None, device=None, progress=False):
        if not isinstance(model, Classifier):
            calls.append(model)
        return original(cls, model, tokenizer, device, progress)

    monkeypatch.setattr(Classifier, "load", classmethod(counting))
    return calls


@pytest.fixture(scope="module")
def tiny_statistics(tiny_pair):
    """Statistics of every layer of the tiny model, estimated once for the module."""
    classifier = Classifier.load(tiny_pair)
    return classifier.estimate_statistics(CORPUS, classifier.layers.all_block_sites())


@pytest.fixture
def make(tiny_pair, tiny_statistics):
    def build(text: str = "the movie was good but the ending was boring") -> Explorer:
        return explorer(tiny_pair, text, statistics=tiny_statistics, **FAST)

    return build


def test_initial_render(tiny_pair, reference_texts):
    widget = explorer(tiny_pair, "the movie was good", reference_corpus=reference_texts, **FAST)
    assert isinstance(widget, Explorer)
    assert widget.last_error is None, widget.last_error
    assert 'class="ib-nlp-explanation"' in widget.output_html.value
    assert widget.last_explanation.parameters["steps"] == 2
    assert widget.layer_slider.min == -1 and widget.layer_slider.max == 2
    assert widget.layer_readout.value == "0"
    assert list(widget.method_dropdown.options) == list(METHODS) == method_names()
    assert [label for label, _ in widget.target_dropdown.options] == ["predicted", "negative", "positive"]
    assert {"imdb-bert-small", "imdb-lstm"} <= set(widget.model_dropdown.options)
    assert widget.status_label.value.startswith("done")
    assert widget.progress_bar.value == widget.progress_bar.max


def test_beta_change_rerenders_without_reloading(make, loads):
    widget = make()
    assert len(loads) == 1
    before = widget.output_html.value
    widget.beta_slider.value = 0.1
    assert widget.last_explanation.parameters["beta"] == pytest.approx(0.1)
    assert widget.output_html.value != before
    widget.target_dropdown.value = 1
    assert len(loads) == 1


def test_layer_change_changes_rendered_layer(make):
    widget = make()
    widget.layer_slider.value = -1
    assert widget.layer_readout.value == "embeddings"
    assert widget.last_explanation.layer == "embeddings"
    assert "<b>layer</b> embeddings" in widget.output_html.value
    widget.layer_slider.value = 2
    assert widget.layer_readout.value == "2"
    assert widget.last_explanation.layer == 2
    assert "<b>layer</b> 2" in widget.output_html.value


def test_empty_text_shows_escaped_error_without_traceback(make):
    widget = make()
    widget.text_area.value = "   "
    assert widget.last_explanation is None
    assert "empty or holds only whitespace" in widget.last_error
    assert 'class="ib-nlp-error"' in widget.output_html.value
    assert "Traceback" not in widget.output_html.value
    assert widget.status_label.value == "failed"
    widget.text_area.value = "a good film"
    assert widget.last_error is None


def test_script_in_text_is_escaped(make):
    widget = make("a <script>alert(1)</script> good film")
    assert widget.last_error is None, widget.last_error
    rendered = widget.output_html.value
    assert "<script" not in rendered and "</script" not in rendered
    assert "&lt;" in rendered and "alert" in rendered


def test_error_message_is_escaped(make):
    widget = make()
    widget.target_dropdown.options = [("predicted", -1), ("<b>bad</b>", "<b>bad</b>")]
    widget.target_dropdown.value = "<b>bad</b>"
    assert "<b>bad</b>" in widget.last_error
    assert "&lt;b&gt;bad&lt;/b&gt;" in widget.output_html.value
    assert "<b>bad</b>" not in widget.output_html.value


def test_target_dropdown_changes_target(make):
    widget = make()
    predicted = widget.last_explanation.predicted
    other = 1 - predicted
    widget.target_dropdown.value = other
    assert widget.last_explanation.target == other
    assert f"<b>target</b> {widget.last_explanation.label_names[other]}" in widget.output_html.value
    widget.target_dropdown.value = -1
    assert widget.last_explanation.target == predicted


def test_unknown_option_is_rejected(tiny_pair, reference_texts):
    with pytest.raises(InvalidInputError, match="unknown explorer option"):
        explorer(tiny_pair, reference_corpus=reference_texts, stpes=2)


def test_model_change_updates_layer_range_and_reuses_loaded_models(make, loads):
    widget = make()
    widget.model_dropdown.value = "imdb-lstm"
    assert widget.last_error is None, widget.last_error
    assert widget.layer_slider.max == 3
    assert widget.layer_readout.value == "0"
    assert widget.beta_slider.value == pytest.approx(10.0)
    assert widget.last_explanation.model_name == "imdb-lstm"
    widget.layer_slider.value = -1
    assert widget.last_explanation.layer == "embeddings"
    widget.model_dropdown.value = widget.model_dropdown.options[0]
    assert widget.layer_slider.max == 2
    assert widget.last_explanation.parameters["steps"] == 2
    assert [model for model in loads if isinstance(model, str)] == ["imdb-lstm"]


def test_method_change_shows_the_baseline_and_keeps_it_loaded(make, loads):
    widget = make()
    loads.clear()
    widget.method_dropdown.value = "integrated_gradients"
    assert widget.last_error is None and widget.last_explanation.method == "integrated_gradients"
    assert "logit" in widget.output_html.value
    widget.method_dropdown.value = "iba"
    widget.method_dropdown.value = "integrated_gradients"
    assert widget.last_explanation.method == "integrated_gradients" and loads == []


def test_a_bottleneck_method_brings_its_own_recommended_layer(make):
    """imdb-bert-small recommends the embeddings for gradient_signed_iba, beta 100 for
    contrastive_iba and block 0 at beta 1 for IBA, and imdb-lstm beta 100 for every signed variant
    and 10 for IBA: switching the method moves the layer and beta controls; a baseline leaves them
    where they were."""
    widget = make()
    widget.model_dropdown.value = "imdb-bert-small"
    assert widget.layer_readout.value == "0" and widget.beta_slider.value == pytest.approx(1.0)
    widget.method_dropdown.value = "gradient_signed_iba"
    assert widget.last_error is None, widget.last_error
    assert widget.layer_readout.value == "embeddings" and widget.last_explanation.layer == "embeddings"
    widget.method_dropdown.value = "integrated_gradients"
    assert widget.layer_readout.value == "embeddings" and widget.last_explanation.method == "integrated_gradients"
    widget.method_dropdown.value = "iba"
    assert widget.layer_readout.value == "0" and widget.last_explanation.layer == 0
    widget.method_dropdown.value = "contrastive_iba"
    assert widget.last_error is None, widget.last_error
    assert widget.layer_readout.value == "0" and widget.beta_slider.value == pytest.approx(100.0)
    assert widget.last_explanation.parameters["beta"] == pytest.approx(100.0)
    widget.method_dropdown.value = "gradient_signed_iba"
    widget.model_dropdown.value = "imdb-lstm"
    assert widget.last_explanation.layer == 0 and widget.beta_slider.value == pytest.approx(100.0)
    assert widget.last_explanation.parameters["beta"] == pytest.approx(100.0)
    widget.method_dropdown.value = "iba"
    assert widget.beta_slider.value == pytest.approx(10.0) and widget.last_explanation.parameters["beta"] == pytest.approx(10.0)
    for method, beta in [("open_signed_iba", 100.0), ("closing_signed_iba", 100.0), ("contrastive_iba", 100.0)]:
        widget.method_dropdown.value = method
        assert widget.last_error is None, widget.last_error
        assert widget.beta_slider.value == pytest.approx(beta) and widget.last_explanation.parameters["beta"] == pytest.approx(beta), method


@pytest.mark.parametrize("name", ["contrastive_iba", "gradient_signed_iba"])
def test_signed_bottlenecks_follow_the_layer_and_beta_controls(make, loads, name):
    widget = make()
    loads.clear()
    widget.method_dropdown.value = name
    assert widget.last_error is None and widget.last_explanation.unit == "signed bits"
    if name == "gradient_signed_iba":  # the random model's contrastive map is ~0 everywhere (p ~ 0.5): a legend of 0 only
        legend = r"signed bits per word</span><span>[^<]*-[^<]*</span><span style=\"[^\"]*linear-gradient\(to right,rgb\(0,0,255\)"
        assert re.search(legend, widget.output_html.value), "a diverging legend, from blue (opposing) to red"
    widget.layer_slider.value = 2
    widget.beta_slider.value = 0.5
    explanation = widget.last_explanation
    assert (explanation.method, explanation.layer, explanation.parameters["beta"]) == (name, 2, pytest.approx(0.5))
    assert loads == []
