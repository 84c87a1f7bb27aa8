"""How many judges grade at once: from the cores up while the cores sit idle, back down when they
are saturated, within the ceiling; and the order the jobs are handed out in."""
from __future__ import annotations

from autograder.classroom import Job, interleaved
from autograder.concurrency import (ADD_WHEN_IDLE, JUDGE_MEMORY_BYTES, MIN_INTERVAL,
                                    JudgeConcurrency, ceiling_for, cpu_times)


def test_idle_cores_let_one_more_judge_in_up_to_the_ceiling():
    concurrency = JudgeConcurrency(cores=2, ceiling=4)
    assert concurrency.target == 2
    assert [concurrency.decide(0.6) for _ in range(4)] == [3, 4, 4, 4]


def test_saturated_cores_take_judges_away_but_never_below_the_cores():
    concurrency = JudgeConcurrency(cores=2, ceiling=8)
    for _ in range(4):
        concurrency.decide(0.9)
    assert concurrency.target == 6
    assert [concurrency.decide(0.01) for _ in range(6)] == [5, 4, 3, 2, 2, 2]


def test_a_busy_but_not_saturated_machine_keeps_the_number():
    concurrency = JudgeConcurrency(cores=2, ceiling=8)
    concurrency.decide(0.5)
    assert concurrency.decide(ADD_WHEN_IDLE / 2) == 3
    assert concurrency.history == [2, 3]


def test_the_instructors_number_is_kept_whatever_the_machine_does():
    concurrency = JudgeConcurrency.for_machine(workers=3)
    assert concurrency.target == 3 and concurrency.ceiling == 3
    assert concurrency.decide(0.9) == 3 and concurrency.observe(10.0, (90.0, 100.0)) == 3
    assert "3 judges at once (--workers)" in concurrency.describe()


def test_readings_become_the_idle_share_between_them():
    concurrency = JudgeConcurrency(cores=2, ceiling=8)
    assert concurrency.observe(0.0, (0.0, 0.0)) == 2  # the first reading only starts the count
    assert concurrency.observe(MIN_INTERVAL / 2, (50.0, 100.0)) == 2  # too soon to tell
    assert concurrency.observe(MIN_INTERVAL * 2, (50.0, 100.0)) == 3  # half idle: one more
    assert concurrency.observe(MIN_INTERVAL * 4, (51.0, 200.0)) == 2  # 1% idle: one fewer


def test_memory_bounds_the_ceiling():
    assert ceiling_for(2, None) == 8
    assert ceiling_for(2, 3 * JUDGE_MEMORY_BYTES) == 3
    assert ceiling_for(2, 10) == 1


def test_this_machine_reports_its_cpu_times():
    idle, total = cpu_times()
    assert 0 <= idle <= total and total > 0


def test_jobs_are_handed_out_one_exercise_after_another():
    jobs = [Job("s", "a", name, name) for name in ["retry"] * 3 + ["timeout"] * 2 + ["bulkhead"]]
    assert [job.exercise for job in interleaved(jobs)] == [
        "retry", "timeout", "bulkhead", "retry", "timeout", "retry"]
