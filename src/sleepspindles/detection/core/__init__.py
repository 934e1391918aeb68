"""What every detection engine shares: the numeric kernels (numba with numpy twins) and the
streaming of a night in overlapping blocks filtered at a fixed internal rate."""
