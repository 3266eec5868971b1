"""Ranking metrics: HR@k and NDCG@k (the paper's section 7.2), and the path of their ``evaluate`` module."""

from __future__ import annotations

from pathlib import Path

from .genrec_ranking.genrec_ranking import ranking_metrics

# evaluate.load(RANKING_METRIC_PATH) gives the same metric as an `evaluate` module.
RANKING_METRIC_PATH = str(Path(__file__).parent / "genrec_ranking")

__all__ = ["ranking_metrics", "RANKING_METRIC_PATH"]
