"""An interactive notebook explorer: pick a text, model, method, layer, beta and target, see the attribution.

Everything runs synchronously in Python: changing a control's ``value`` (from the browser or
from code) re-runs the explanation and replaces the HTML output, so the logic is testable
without a kernel. Loaded models and their per-layer explainers are cached, so moving the
beta slider or changing the target never reloads a model.
"""

from __future__ import annotations

import html
import math
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from typing import Any

import ipywidgets as widgets

from ib_nlp.text.methods import AttributionMethod, load_method, method_names
from ib_nlp.text.classifier import Classifier
from ib_nlp.errors import IBNLPError, InvalidInputError
from ib_nlp.text.explanation import Explanation
from ib_nlp.core.optimise import IBAConfig
from ib_nlp.text.methods.iba import PerSampleIBA, is_bottleneck_method
from ib_nlp.ui.report import render_inline
from ib_nlp.text.shipped import DEFAULT_MODEL, shipped_model_names
from ib_nlp.text.sites import EMBEDDINGS

DEFAULT_TEXT = (
    "I expected a lot from this director, but the film is boring and far too long, "
    "although the lead actress is great."
)
BETA_RANGE = (0.01, 100.0)
PREDICTED = -1
EMBEDDINGS_POSITION = -1
PROGRESS_STEPS = ("loading model", "explaining", "rendering")
IBA_OPTIONS = tuple(item.name for item in fields(IBAConfig) if item.name != "beta")
_ERROR_STYLE = (
    "color:#82071e;background:#ffebe9;border:1px solid #ff8182;border-radius:6px;"
    "padding:8px 12px;font-family:system-ui,sans-serif;font-size:14px"
)


@dataclass(frozen=True)
class ExplainRequest:
    """What the controls ask for: one text at one layer with one beta and target (None: predicted)."""

    text: str
    layer: int | str
    beta: float
    target: int | None


@dataclass
class ModelEntry:
    """A model the explorer offers: how to load it, its statistics source, and what was loaded (cached)."""

    source: Any
    statistics: Any = None
    reference_corpus: Any = None
    device: Any = None
    options: dict[str, Any] = field(default_factory=dict)
    classifier: Classifier | None = None
    explainers: dict[tuple[str, int | str | None], PerSampleIBA] = field(default_factory=dict)
    baselines: dict[str, AttributionMethod] = field(default_factory=dict)

    def baseline(self, name: str) -> AttributionMethod:
        """The baseline method ``name`` for this model, built once."""
        if name not in self.baselines:
            self.baselines[name] = load_method(name, self.load())
        return self.baselines[name]

    def load(self) -> Classifier:
        """The classifier, loaded on first use only."""
        if self.classifier is None:
            self.classifier = Classifier.load(self.source, device=self.device)
        return self.classifier

    def bottleneck(self, method: str, layer: int | str | None) -> PerSampleIBA:
        """The explainer of IBA or its variant ``method`` at ``layer`` (None: the model's
        recommended layer), built once per method and layer."""
        if (method, layer) in self.explainers:
            return self.explainers[(method, layer)]
        explainer = load_method(
            method,
            self.load(),
            layer=layer,
            statistics=self.statistics,
            reference_corpus=self.reference_corpus,
            **self.options,
        )
        self.explainers[(method, explainer.layer)] = explainer
        if layer is None:
            self.explainers[(method, None)] = explainer
        return explainer


Method = Callable[[ModelEntry, ExplainRequest], Explanation]


def bottleneck_method(name: str) -> Method:
    """IBA or a variant of it at the slider's layer, with the cached explainer of that layer;
    beta is changed in a copy that shares everything else."""

    def explain(entry: ModelEntry, request: ExplainRequest) -> Explanation:
        return entry.bottleneck(name, request.layer).with_config(beta=request.beta).explain(request.text, request.target)

    return explain


def baseline_method(name: str) -> Method:
    """A registry method other than IBA (the layer and beta controls do not apply to it)."""

    def explain(entry: ModelEntry, request: ExplainRequest) -> Explanation:
        return entry.baseline(name).explain(request.text, request.target)

    return explain


METHODS: dict[str, Method] = {name: (bottleneck_method if is_bottleneck_method(name) else baseline_method)(name) for name in method_names()}


def _has_recommended_setting(name: str) -> bool:
    """Whether the dropdown entry ``name`` is a registry bottleneck method (it has a recommended layer and beta)."""
    return name in method_names() and is_bottleneck_method(name)


def _model_label(classifier: Classifier, taken: list[str]) -> str:
    """Dropdown label of a model passed in: its name, marked when a shipped model has the same name."""
    label = classifier.name or type(classifier.model).__name__
    return f"{label} (given)" if label in taken else label


def error_html(message: str) -> str:
    """An escaped error message styled as an error box (no traceback)."""
    return f'<div class="ib-nlp-error" role="alert" style="{_ERROR_STYLE}"><b>Error:</b> {html.escape(message, quote=True)}</div>'


def _layer_position(layer: int | str) -> int:
    """Slider position of a layer: -1 for the embeddings, else the block index."""
    if layer == EMBEDDINGS:
        return EMBEDDINGS_POSITION
    if isinstance(layer, int):
        return layer
    raise InvalidInputError(f"the explorer's layer slider covers block indices and 'embeddings', not {layer!r}")


class Explorer(widgets.VBox):
    """The explorer widget: controls on top, the rendered explanation (or an error) underneath.

    ``statistics`` and ``reference_corpus`` belong to the initial model (``model``, or the
    default shipped model when None); shipped models chosen later use their own statistics.
    Extra keyword arguments are IBA options (``steps``, ``samples``, ``lr``, ...) for every run.
    """

    def __init__(
        self,
        model: Any = None,
        text: str | None = None,
        *,
        statistics: Any = None,
        reference_corpus: Any = None,
        device: Any = None,
        methods: Mapping[str, Method] | None = None,
        **options: Any,
    ):
        unknown = sorted(set(options) - set(IBA_OPTIONS))
        if unknown:
            raise InvalidInputError(
                f"unknown explorer option(s): {', '.join(unknown)}; IBA options are {', '.join(IBA_OPTIONS)} "
                "(beta is set with the slider)"
            )
        self.methods = dict(methods if methods is not None else METHODS)
        if not self.methods:
            raise InvalidInputError("the explorer needs at least one method")
        self.last_explanation: Explanation | None = None
        self.last_error: str | None = None
        self._suspended = 0
        self._entries = self._build_entries(model, statistics, reference_corpus, device, options)
        initial = next(iter(self._entries))

        self.text_area = widgets.Textarea(
            value=DEFAULT_TEXT if text is None else text,
            description="Text",
            continuous_update=False,
            layout=widgets.Layout(width="100%", height="90px"),
        )
        self.model_dropdown = widgets.Dropdown(options=list(self._entries), value=initial, description="Model")
        self.method_dropdown = widgets.Dropdown(options=list(self.methods), description="Method")
        self.layer_slider = widgets.IntSlider(
            min=EMBEDDINGS_POSITION, max=0, value=EMBEDDINGS_POSITION, description="Layer", readout=False, continuous_update=False
        )
        self.layer_readout = widgets.Label()
        self.beta_slider = widgets.FloatLogSlider(
            base=10,
            min=math.log10(BETA_RANGE[0]),
            max=math.log10(BETA_RANGE[1]),
            step=0.1,
            value=IBAConfig.beta,
            description="Beta",
            continuous_update=False,
        )
        self.target_dropdown = widgets.Dropdown(options=[("predicted", PREDICTED)], value=PREDICTED, description="Target")
        self.run_button = widgets.Button(description="Run", icon="play", tooltip="Explain again with the current settings")
        self.progress_bar = widgets.IntProgress(min=0, max=len(PROGRESS_STEPS), value=0, layout=widgets.Layout(width="160px"))
        self.status_label = widgets.Label()
        self.output_html = widgets.HTML()

        super().__init__(
            children=[
                self.text_area,
                widgets.HBox([self.model_dropdown, self.method_dropdown, self.target_dropdown]),
                widgets.HBox([self.layer_slider, self.layer_readout, self.beta_slider]),
                widgets.HBox([self.run_button, self.progress_bar, self.status_label]),
                self.output_html,
            ]
        )
        self.layer_slider.observe(self._on_layer, names="value")
        for control in (self.text_area, self.beta_slider, self.target_dropdown):
            control.observe(self._on_change, names="value")
        self.method_dropdown.observe(self._on_method, names="value")
        self.model_dropdown.observe(self._on_model, names="value")
        self.run_button.on_click(lambda _: self.refresh())
        self._select_model(initial)

    @staticmethod
    def _build_entries(model: Any, statistics: Any, reference_corpus: Any, device: Any, options: dict[str, Any]) -> dict[str, ModelEntry]:
        """One entry per dropdown label: the initial model first (with the statistics), then the shipped ones."""
        shipped = shipped_model_names()
        own = {"statistics": statistics, "reference_corpus": reference_corpus, "device": device, "options": options}
        entries: dict[str, ModelEntry] = {}
        if model is None or (isinstance(model, str) and model in shipped):
            name = DEFAULT_MODEL if model is None else model
            entries[name] = ModelEntry(name, **own)
        else:
            classifier = Classifier.load(model, device=device)
            entries[_model_label(classifier, shipped)] = ModelEntry(classifier, classifier=classifier, **own)
        for name in shipped:
            entries.setdefault(name, ModelEntry(name, device=device, options=options))
        return entries

    @contextmanager
    def _hold(self) -> Iterator[None]:
        """Suspend re-rendering while several controls change together."""
        self._suspended += 1
        try:
            yield
        finally:
            self._suspended -= 1

    def _layer(self) -> int | str:
        """The layer the slider points at."""
        return EMBEDDINGS if self.layer_slider.value == EMBEDDINGS_POSITION else self.layer_slider.value

    def _update_readout(self) -> None:
        self.layer_readout.value = str(self._layer())

    def _on_layer(self, _change: Mapping[str, Any]) -> None:
        self._update_readout()
        self.refresh()

    def _on_change(self, _change: Mapping[str, Any]) -> None:
        self.refresh()

    def _on_model(self, change: Mapping[str, Any]) -> None:
        self._select_model(change["new"])

    def _on_method(self, change: Mapping[str, Any]) -> None:
        """A bottleneck method moves the layer and beta controls to its own recommended setting
        (a signed variant's may differ from IBA's); a baseline leaves them as they are."""
        if _has_recommended_setting(change["new"]):
            try:
                with self._hold():
                    self._take_recommended(self._entries[self.model_dropdown.value], change["new"])
            except IBNLPError as error:
                self._show_error(str(error))
                return
        self.refresh()

    def _take_recommended(self, entry: ModelEntry, method: str) -> None:
        """Set the layer and beta controls to what the model recommends for the bottleneck ``method``."""
        recommended = entry.bottleneck(method, None)
        self.layer_slider.value = _layer_position(recommended.layer)
        self.beta_slider.value = min(max(recommended.config.beta, BETA_RANGE[0]), BETA_RANGE[1])
        self._update_readout()

    def _select_model(self, label: str) -> None:
        """Load the model, fit the layer range and targets to it, take its recommended layer and beta, render."""
        entry = self._entries[label]
        try:
            with self._hold():
                self._show_progress(0)
                classifier = entry.load()
                self.layer_slider.max = len(classifier.layers) - 1
                labels = [(name, index) for index, name in enumerate(classifier.label_names)]
                self.target_dropdown.options = [("predicted", PREDICTED), *labels]
                self.target_dropdown.value = PREDICTED
                method = self.method_dropdown.value
                self._take_recommended(entry, method if _has_recommended_setting(method) else "iba")
        except IBNLPError as error:
            self._update_readout()
            self._show_error(str(error))
            return
        self.refresh()

    def request(self) -> ExplainRequest:
        """The explanation the controls currently ask for."""
        target = self.target_dropdown.value
        return ExplainRequest(
            text=self.text_area.value,
            layer=self._layer(),
            beta=float(self.beta_slider.value),
            target=None if target == PREDICTED else target,
        )

    def refresh(self) -> None:
        """Explain with the current settings and show the result, or the error message instead of a trace."""
        if self._suspended:
            return
        started = time.perf_counter()
        try:
            self._show_progress(0)
            entry = self._entries[self.model_dropdown.value]
            entry.load()
            self._show_progress(1)
            explanation = self.methods[self.method_dropdown.value](entry, self.request())
            self._show_progress(2)
            rendered = render_inline(explanation)
        except IBNLPError as error:
            self._show_error(str(error))
            return
        except Exception as error:
            self._show_error(f"unexpected {type(error).__name__}: {error}")
            return
        self.last_explanation = explanation
        self.last_error = None
        self.output_html.value = rendered
        self.progress_bar.value = len(PROGRESS_STEPS)
        self.progress_bar.bar_style = "success"
        self.status_label.value = f"done in {time.perf_counter() - started:.2f} s"

    def _show_progress(self, step: int) -> None:
        self.progress_bar.value = step
        self.progress_bar.bar_style = "info"
        self.status_label.value = f"running… {PROGRESS_STEPS[step]}"

    def _show_error(self, message: str) -> None:
        self.last_explanation = None
        self.last_error = message
        self.output_html.value = error_html(message)
        self.progress_bar.bar_style = "danger"
        self.status_label.value = "failed"


explorer = Explorer
"""``explorer(model=None, text=None, **options)``: the interactive explorer widget (see :class:`Explorer`)."""
