"""The evaluation classifier's own commands: options (`options`), the training loop (`training`),
`python -m utils.classifier.train` and `python -m utils.classifier.eval`. Imports `utils.evaluation`
(scoring) and `utils.core`."""
