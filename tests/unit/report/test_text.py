"""otterfile/report/text.py: the one byte formatter every report uses."""
import pytest

from otterfile.report.text import amount, human_size

pytestmark = pytest.mark.unit


def test_a_byte_count_reads_in_steps_of_1024():
    assert [human_size(n) for n in (0, 1023, 1024, 20_000, 1258291, 1.5 * 1024 ** 3)] == \
        ["0 B", "1023 B", "1.0 KB", "19.5 KB", "1.2 MB", "1.5 GB"]
    assert human_size(5 * 1024 ** 4) == "5120.0 GB"  # the largest unit holds what is past it


def test_an_amount_drops_a_total_it_has_passed():
    assert amount(1024, 2048) == "1.0 KB of 2.0 KB"
    assert amount(4096, 2048) == "4.0 KB"
