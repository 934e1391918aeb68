"""Agreement of detections with reference events (experts, planted ground truth), tuning and calibration.

:mod:`.matching` pairs events one to one by intersection over union; :mod:`.scoring` turns
matches into by-event and by-sample scores per recording and pooled; :mod:`.tuning` chooses
detector thresholds by leave-one-recording-out cross-validation; :mod:`.calibration` fits and
checks (leave one recording out) the logistic model behind a per-event confidence.
"""

from .scoring import EvaluationResult, combine_experts, evaluate, evaluate_files

__all__ = ["EvaluationResult", "combine_experts", "evaluate", "evaluate_files"]
