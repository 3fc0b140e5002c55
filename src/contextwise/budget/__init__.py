"""Budgets: sections with priorities and bounds, allocation, fit strategies, and the Report."""

from contextwise.budget.allocate import Allocation, ByPriority, Demand, Proportional
from contextwise.budget.context import Built, Context, resolve_reserve
from contextwise.budget.fit import Compress, DropLowest, FitEnv, FitStrategy, Fitted, Measured, PreferShorter, \
    Truncate, default_fit
from contextwise.budget.report import Decision, Report, SectionReport
from contextwise.budget.section import Item, Section, message_units, texts_to_items

__all__ = [
    "Allocation", "Built", "ByPriority", "resolve_reserve", "Compress", "Context", "Decision", "Demand", "DropLowest",
    "FitEnv",
    "FitStrategy", "Fitted", "Item", "Measured", "PreferShorter", "Proportional", "Report", "Section",
    "SectionReport", "Truncate", "default_fit", "message_units", "texts_to_items",
]
