"""Budgets: sections with priorities and bounds, allocation, fit strategies, the one engine and its Report."""

from contextwise._wire import canonical_json
from contextwise.budget._built import Built
from contextwise.budget._cost import CostCut, ModelChoice, ModelOption, Optimized, choose_model, optimize
from contextwise.budget._history import ManagerFit, RecentTurns
from contextwise.budget.allocate import Allocation, ByPriority, Demand, Proportional
from contextwise.budget.context import Context, resolve_reserve
from contextwise.budget.fit import Compress, DropLowest, FitEnv, FitStrategy, Fitted, Measured, PreferShorter, \
    Truncate, default_fit
from contextwise.budget.report import Decision, Report, SectionReport
from contextwise.budget.section import Item, Section, message_units, texts_to_items

__all__ = [
    "Allocation", "Built", "ByPriority", "Compress", "Context", "CostCut", "Decision", "Demand", "DropLowest",
    "FitEnv", "FitStrategy", "Fitted", "Item", "ManagerFit", "Measured", "ModelChoice", "ModelOption", "Optimized",
    "PreferShorter", "Proportional", "RecentTurns", "Report", "Section", "SectionReport", "Truncate",
    "canonical_json", "choose_model", "default_fit", "message_units", "optimize", "resolve_reserve",
    "texts_to_items",
]
