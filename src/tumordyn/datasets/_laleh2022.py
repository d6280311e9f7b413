r"""Target-lesion measurements of 1,461 patient records from five atezolizumab / docetaxel trials.

Source: Ghaffari Laleh N, Loeffler CML, Grajek J, Staňková K, Pearson AT, Muti HS, Trautwein C,
Enderling H, Poleszczuk J, Kather JN (2022). *Classical mathematical models for prediction of
response to chemotherapy and immunotherapy.* PLOS Computational Biology 18(2): e1009822,
https://doi.org/10.1371/journal.pcbi.1009822 — supplementary data S6 (anonymised measurements of the
target lesion of patients of five clinical trials of atezolizumab, some with a docetaxel arm),
licensed CC BY 4.0 (https://creativecommons.org/licenses/by/4.0/). The copy shipped here was
restructured from the files of the Julia package TumorGrowth.jl (A. D. Blaom, MIT licence,
https://github.com/ablaom/TumorGrowth.jl); the licence texts are in ``tumordyn/datasets/data/``.
Cite the paper (:data:`LALEH2022_CITATION`, :data:`LALEH2022_BIBTEX`) when you use the data.
"""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["laleh2022", "LALEH2022_CITATION", "LALEH2022_BIBTEX"]

#: Citation of the source of :func:`laleh2022` (plain text).
LALEH2022_CITATION = (
    "Ghaffari Laleh N, Loeffler CML, Grajek J, Staňková K, Pearson AT, Muti HS, Trautwein C, Enderling H, "
    "Poleszczuk J, Kather JN (2022). Classical mathematical models for prediction of response to chemotherapy "
    "and immunotherapy. PLOS Computational Biology 18(2): e1009822. https://doi.org/10.1371/journal.pcbi.1009822"
)

#: Citation of the source of :func:`laleh2022` (BibTeX).
LALEH2022_BIBTEX = r"""@article{laleh2022classical,
  author  = {Ghaffari Laleh, Narmin and Loeffler, Chiara Maria Lavinia and Grajek, Julia and
             Sta{\v{n}}kov{\'a}, Kate{\v{r}}ina and Pearson, Alexander T. and Muti, Hannah Sophie and
             Trautwein, Christian and Enderling, Heiko and Poleszczuk, Jan and Kather, Jakob Nikolas},
  title   = {Classical mathematical models for prediction of response to chemotherapy and immunotherapy},
  journal = {PLOS Computational Biology},
  year    = {2022},
  volume  = {18},
  number  = {2},
  pages   = {e1009822},
  doi     = {10.1371/journal.pcbi.1009822}
}"""

_FILE = "laleh2022.csv.gz"


def laleh2022() -> pd.DataFrame:
    r"""Target-lesion measurements of five atezolizumab / docetaxel trials (Ghaffari Laleh et al. 2022).

    8,416 measurements of 1,461 patient records (one target lesion per record), as published in the
    paper's supplementary data S6 (CC BY 4.0); see the module notes for the source and licence.

    Returns
    -------
    pandas.DataFrame
        One row per measurement, in the source's order (by record, then visit week), with columns

        * ``patient`` (str): anonymised record id; the suffix ``-S<k>`` repeats the study;
        * ``study`` (int): trial, 1–5;
        * ``arm`` (int): arm within the trial (1–6);
        * ``time_days`` (float, days): time of the scan relative to the start of treatment (the
          baseline scan can be before it: negative days);
        * ``time_weeks`` (float, weeks): the week of the scan as given by the source, i.e.
          :math:`\lceil` ``time_days / 7`` :math:`\rceil` after baseline, with every baseline scan put at
          0.1 week (1.0 for 12 records); the time used by the TumorGrowth.jl benchmark;
        * ``diameter_mm`` (float, mm): longest diameter of the target lesion (0 once it has disappeared);
        * ``volume_mm3`` (float, mm³): volume computed by the source as :math:`0.52\,d^3`
          (a sphere, :math:`\pi/6 \approx 0.5236`), rounded to 0.01 mm³;
        * ``response`` (str): the record's trend group in the source (``"up"``, ``"down"``, ``"flux"``).

    Notes
    -----
    The data are shipped unchanged: seven records hold two scans at the same day (kept as published;
    :func:`read_lesions` with ``duplicates="mean"`` averages them), and one record
    (``0ccda100…-S2``) lists its day-42 scan before its day-37 scan of the same week
    (:func:`read_lesions` sorts by day). Study and arm are numbered as in
    the source; the mapping of trials to study numbers is given in the paper.

    Examples
    --------
    >>> import tumordyn as td
    >>> df = td.datasets.laleh2022()
    >>> len(df), df["patient"].nunique()
    (8416, 1461)
    """
    import pandas as pd

    with resources.files(__package__).joinpath("data").joinpath(_FILE).open("rb") as fh:
        df = pd.read_csv(fh, compression="gzip", dtype={"patient": str, "study": "int64", "arm": "int64",
                                                        "time_days": float, "time_weeks": float,
                                                        "diameter_mm": float, "volume_mm3": float,
                                                        "response": str})
    return df
