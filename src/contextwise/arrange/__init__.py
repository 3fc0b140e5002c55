"""Arrangement: ordering against lost-in-the-middle, markers, cache-friendly layout, long-context vs RAG."""

from contextwise.arrange.layout import CachePlan, plan_cache, volatile_findings
from contextwise.arrange.markers import Markdown, Markers, Plain, Xml
from contextwise.arrange.order import Alternating, Bookend, ImportanceFirst, LongContextReorder, Ordering, Original
from contextwise.arrange.strategy import Recommendation, Workload, compare_models, recommend

__all__ = [
    "Alternating", "Bookend", "CachePlan", "ImportanceFirst", "LongContextReorder", "Markdown", "Markers",
    "Ordering", "Original", "Plain", "Recommendation", "Workload", "Xml", "compare_models", "plan_cache", "recommend",
    "volatile_findings",
]
