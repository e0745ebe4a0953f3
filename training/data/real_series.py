"""Real measured time series that statsmodels ships inside its package (no download), for forecasters to train and
be judged on: a demo that only ever sees generated data can hide what real series do (trends leave the training
range, seasons repeat with noise).

Each dataset comes back as one (T, F) float64 series in time order.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt

Series = npt.NDArray[np.float64]


def _co2() -> Series:
    """Mauna Loa CO2 (ppm), weekly 1958-2001, as 526 monthly means; the 5 months without a reading are linearly
    interpolated. A trend and a yearly cycle."""
    import statsmodels.api as sm

    monthly = sm.datasets.co2.load_pandas().data["co2"].resample("MS").mean().interpolate("linear")
    return monthly.to_numpy(np.float64)[:, None]


def _sunspots() -> Series:
    """Yearly mean sunspot numbers, 1700-2008 (309 years): a cycle of about 11 years."""
    import statsmodels.api as sm

    return sm.datasets.sunspots.load_pandas().data["SUNACTIVITY"].to_numpy(np.float64)[:, None]


def _elnino() -> Series:
    """Monthly sea surface temperature (°C) of the El Niño region, 1950-2010 (732 months): a yearly cycle."""
    import statsmodels.api as sm

    table = sm.datasets.elnino.load_pandas().data.drop(columns="YEAR")
    return table.to_numpy(np.float64).reshape(-1)[:, None]


def _nile() -> Series:
    """Yearly flow of the Nile at Aswan (10^8 m^3), 1871-1970 (100 years): a level shift, no season."""
    import statsmodels.api as sm

    return sm.datasets.nile.load_pandas().data["volume"].to_numpy(np.float64)[:, None]


DATASETS: dict[str, Callable[[], Series]] = {"co2": _co2, "sunspots": _sunspots, "elnino": _elnino, "nile": _nile}


def load_statsmodels_series(name: str) -> Series:
    """One dataset by name; statsmodels is a development dependency (`pip install -e .[dev]`)."""
    if name not in DATASETS:
        raise ValueError(f"unknown statsmodels series {name!r}; known: {sorted(DATASETS)}")
    try:
        return DATASETS[name]()
    except ImportError as exc:
        raise ValueError(f"data.kind = 'statsmodels' needs statsmodels ({exc}); install the dev extra") from None
