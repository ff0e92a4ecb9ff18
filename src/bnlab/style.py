"""The course's figure style: one colour-blind-safe palette for every chapter."""

#: Okabe & Ito's palette: distinguishable with the common colour-vision deficiencies.
OKABE_ITO = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#D55E00",  # vermillion
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#F0E442",  # yellow
    "#000000",  # black
)


def use_course_style():
    """Set matplotlib's colour cycle to `OKABE_ITO` and a readable figure resolution.

    Examples
    --------
    >>> import matplotlib.pyplot as plt
    >>> use_course_style()
    >>> plt.rcParams["axes.prop_cycle"].by_key()["color"][0]
    '#0072B2'
    """
    import matplotlib.pyplot as plt

    plt.rcParams.update({"axes.prop_cycle": plt.cycler(color=list(OKABE_ITO)), "figure.dpi": 110})
