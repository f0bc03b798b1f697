"""The part of ib-nlp that knows neither text nor images: what the text and the vision
bottlenecks share (see docs/architecture.md)."""
