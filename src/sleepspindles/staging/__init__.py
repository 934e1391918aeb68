"""Sleep staging: the scored hypnogram when there is one, YASA's bundled classifier otherwise."""

from __future__ import annotations

import logging

from ..config import Config, StagingConfig
from ..hypnogram import Hypnogram
from ..recording import Recording
from .automatic import auto_stage, pick_staging_channels

__all__ = ["stage", "auto_stage", "pick_staging_channels"]

logger = logging.getLogger(__name__)


def stage(recording: Recording, config: Config | StagingConfig | None = None) -> Hypnogram:
    """Sleep stages for ``recording``.

    Parameters
    ----------
    recording : Recording
        The recording; its ``hypnogram`` is used when present (and ``use_scored`` is true).
    config : Config or StagingConfig, optional
        Staging settings.

    Returns
    -------
    Hypnogram
        ``source`` is ``"scored"`` for a human hypnogram and ``"yasa"`` for automatic staging.
    """
    cfg = config.staging if isinstance(config, Config) else (config or StagingConfig())
    if recording.hypnogram is not None and cfg.use_scored:
        logger.info("using the scored hypnogram (%d epochs)", recording.hypnogram.n_epochs)
        return recording.hypnogram
    return auto_stage(recording, cfg)
