"""Spindle detection engines: ``a7`` (A7 features, local baselines), ``fast`` (YASA's method,
streamed) and ``yasa`` (the reference ``yasa.spindles_detect``)."""
