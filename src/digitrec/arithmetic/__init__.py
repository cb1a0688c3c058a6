"""Working out what a handwritten sum says: exact arithmetic on the text a reader produced."""

from .expression import ExpressionError, Worked, decimal_text, work_out

__all__ = ["ExpressionError", "Worked", "decimal_text", "work_out"]
