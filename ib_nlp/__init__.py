"""Information bottleneck attribution for text classifiers."""
