"""The estimator: a Plan priced by ``hw_models`` into a :class:`Report`.

``rollup`` counts a plan's actions and prices them, ``report`` holds :class:`Report` and
:func:`estimate`, ``baseline`` prices the same graph on the digital baselines, ``render``
prints and writes reports.

Example::

    import analogc
    from analogc.estimate import estimate, render, write_reports
    plan = analogc.compile(analogc.trace("gpt2", seq_len=128), hw="pcm-hermes")
    rep = estimate(plan)
    rep.summary["tops_per_w"], rep.breakdown, rep.compare("h100")
"""
from hw_models.pricing import COMPONENTS

from analogc.estimate.baseline import DEFAULT_BASELINES, baseline_estimate
from analogc.estimate.render import breakdown_png, fmt_si, render, write_reports
from analogc.estimate.report import Report, estimate
from analogc.estimate.rollup import CostRollup

__all__ = ["COMPONENTS", "CostRollup", "DEFAULT_BASELINES", "Report", "baseline_estimate",
           "breakdown_png", "estimate", "fmt_si", "render", "write_reports"]


# ``analogc.estimate(plan)`` keeps working once this package is imported
from analogc._callable import make_callable  # noqa: E402

make_callable(__name__, estimate)
