"""Scaling studies: model families (:mod:`.families`), the Anderson et al. reproduction and
ablation (:mod:`.anderson`), physical size (:mod:`.physical`), plots (:mod:`.plots`) and the
self-contained HTML report (:mod:`analogc.estimate.render`).
"""
