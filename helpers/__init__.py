"""Transfer Learning Lab helpers: the plumbing behind the course notebooks.

One module per job: ``config`` (profiles, paths, devices, seeds), ``data`` (datasets),
``models`` (backbones, heads, freezing), ``features`` (cached CNN codes), ``probes``
(linear classifiers on features), ``training`` (the fit/evaluate loop), ``plotting``.
"""

__version__ = "0.1.0"
