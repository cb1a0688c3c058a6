"""The exact evaluator of handwritten sums: values, errors, and the sizes it accepts."""

from __future__ import annotations

from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from digitrec.arithmetic import ExpressionError, decimal_text, work_out
from digitrec.arithmetic.expression import MAX_DIGITS, MAX_SYMBOLS


def assert_one_line(error: Exception) -> None:
    message = str(error)
    assert message and "\n" not in message and len(message) < 300, message


@pytest.mark.parametrize(("text", "value"), [
    ("12×7=", "84"),
    ("251-32×(5+2)", "27"),
    ("2+3×4", "14"),  # × before +
    ("(2+3)×4", "20"),
    ("20-5-3", "12"),  # left to right
    ("48÷4÷2", "6"),
    ("0.1+0.2", "0.3"),  # exact, not binary floating point
    ("1÷3×3", "1"),
    ("1÷8", "0.125"),
    ("10÷4", "2.5"),
    ("1÷3", "≈ 0.3333333333"),
    ("2÷3", "≈ 0.6666666667"),  # rounded, half away from zero
    ("-1÷3", "≈ -0.3333333333"),
    ("-(2+3)×-2", "10"),  # unary minus on a bracket and after an operator
    ("2--3", "5"),
    ("2(3+4)", "14"),  # a number before a bracket multiplies
    ("(1+1)(2+2)", "8"),
    (".5+.5", "1"),
    ("12x7", "84"),  # × written as a letter, a star or a dot
    ("12*7", "84"),
    ("8:2", "4"),  # ÷ written as a colon or a slash
    ("8/2", "4"),
    (" 1 + 2 ", "3"),
    ("0.000001÷3", "≈ 0.0000003333"),
    ("1÷2048", "0.00048828125"),  # every decimal of a value that ends
    ("1÷30000000000", "≈ 0"),
])
def test_values(text: str, value: str) -> None:
    assert work_out(text).text == value


def test_the_answer_written_after_the_equals_sign_is_checked() -> None:
    right, wrong, none = work_out("10÷4=2.5"), work_out("12+7=20"), work_out("12+7=")
    assert right.agrees is True and right.written == Fraction(5, 2)
    assert wrong.agrees is False and wrong.value == 19
    assert none.agrees is None and none.expression == "12+7"


@pytest.mark.parametrize(("text", "code", "says"), [
    ("12++", "bad_expression", "'+' at position 4"),
    ("(1+2", "bad_expression", "bracket at position 1 is never closed"),
    ("1+2)", "bad_expression", "no bracket opened"),
    ("1÷0", "division_by_zero", "division by zero"),
    ("1÷(2-2)", "division_by_zero", "division by zero"),
    ("", "bad_expression", "empty"),
    ("1.2.3", "bad_expression", "'1.2.3' at position 1 is not a number"),
    ("5.", "bad_expression", "not a number"),
    ("2×", "bad_expression", "should follow"),
    ("()", "bad_expression", "')' at position 2"),
    ("12a", "bad_expression", "'a' at position 3 is not part of a sum"),
    ("=5", "bad_expression", "nothing before '='"),
    ("1=2=3", "bad_expression", "more than one '='"),
    ("1" * (MAX_DIGITS + 1), "too_large", f"more than {MAX_DIGITS} digits"),
    ("1+" * MAX_SYMBOLS + "1", "bad_expression", "too long"),
])
def test_errors_name_the_problem_in_one_line(text: str, code: str, says: str) -> None:
    with pytest.raises(ExpressionError) as caught:
        work_out(text)
    assert caught.value.code == code and says in str(caught.value)
    assert_one_line(caught.value)


def test_the_largest_accepted_expressions_are_worked_out() -> None:
    # The bounds on symbols and digits bound the work: the longest product of the longest
    # numbers, the deepest brackets and the longest run of minus signs all finish.
    longest = "×".join(["9" * MAX_DIGITS] * (MAX_SYMBOLS // (MAX_DIGITS + 1)))
    assert work_out(longest).value == (10**MAX_DIGITS - 1) ** (MAX_SYMBOLS // (MAX_DIGITS + 1))
    depth = (MAX_SYMBOLS - 1) // 2
    assert work_out("(" * depth + "7" + ")" * depth).value == 7
    assert work_out("-" * (MAX_SYMBOLS - 1) + "1").value == -1


def test_decimal_text() -> None:
    assert decimal_text(Fraction(-7, 4)) == "-1.75"
    assert decimal_text(Fraction(1, 6), places=3) == "≈ 0.167"
    assert decimal_text(Fraction(-1, 10**12)) == "-0.000000000001"
    assert decimal_text(Fraction(0)) == "0"


# Well-formed sums as trees: a value of each, computed here with Fraction, and its text.
_numbers = st.integers(0, 10**6).map(lambda n: (str(n), Fraction(n)))


def _combine(children: st.SearchStrategy) -> st.SearchStrategy:
    def join(left, op, right):
        (lt, lv), (rt, rv) = left, right
        if op == "÷" and rv == 0:
            op = "×"
        value = {"+": lv + rv, "-": lv - rv, "×": lv * rv, "÷": lv / rv if rv else 0}[op]
        return f"({lt}{op}{rt})", value

    return st.builds(join, children, st.sampled_from("+-×÷"), children)


_sums = st.recursive(_numbers, _combine, max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(_sums)
def test_fully_bracketed_sums_have_the_value_of_their_tree(expression) -> None:
    text, value = expression
    if len(text) <= MAX_SYMBOLS:
        assert work_out(text).value == value


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet="0123456789.+-×÷()=x*/: ", max_size=60))
def test_any_text_of_the_alphabet_is_a_value_or_one_clear_error(text: str) -> None:
    try:
        worked = work_out(text)
    except ExpressionError as error:
        assert_one_line(error)
    else:
        assert isinstance(worked.value, Fraction) and worked.text
