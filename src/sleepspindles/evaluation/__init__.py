"""Agreement of detections with reference events (experts, planted ground truth), and tuning.

:mod:`.matching` pairs events one to one by intersection over union; :mod:`.scoring` turns
matches into by-event and by-sample scores per recording and pooled; :mod:`.tuning` chooses
detector thresholds by leave-one-recording-out cross-validation.
"""

from .scoring import EvaluationResult, combine_experts, evaluate, evaluate_files

__all__ = ["EvaluationResult", "combine_experts", "evaluate", "evaluate_files"]
