"""What shows results, never computes them: HTML reports (``report``, its style sheet in
``report.css``), matplotlib figures (``plots``) and the Jupyter widgets (``widgets``, which
re-run explanations through the public API when a control changes)."""
