"""How many judges grade at once: the cores divided by the CPU share of the judges finished lately,
one step at a time, never up while the machine is saturated, within the floor (the cores) and the
ceiling (memory, 6 per core); and the order the jobs are handed out in."""
from __future__ import annotations

from autograder.classroom import Job, JobQueue
from autograder.concurrency import (GUARD_SECONDS, JUDGE_MEMORY_BYTES, JudgeConcurrency,
                                    ceiling_for, cpu_times)


def test_judges_that_mostly_wait_let_more_in_one_step_at_a_time_up_to_the_ceiling():
    concurrency = JudgeConcurrency(cores=2, ceiling=8)
    assert concurrency.target == 2
    # Each judge used 1 s of CPU in 4 s: 2 cores / 25% = 8 judges, reached one step per judge.
    assert [concurrency.finished(t, 1.0, 4.0) for t in range(8)] == [3, 4, 5, 6, 7, 8, 8, 8]
    assert concurrency.wanted() == 8


def test_judges_that_compute_bring_the_number_back_to_the_cores():
    concurrency = JudgeConcurrency(cores=2, ceiling=8)
    for t in range(4):
        concurrency.finished(t, 1.0, 8.0)  # waiting judges: up to 6
    assert concurrency.target == 6
    # Then computing ones: the share over the recent judges rises, and the number falls with it.
    steps = [concurrency.finished(t, 3.0, 3.0) for t in range(4, 40)]
    assert max(steps) <= 8 and steps[-10:] == [2] * 10
    assert all(b - a in (-1, 0, 1) for a, b in zip(steps, steps[1:]))  # one step at a time


def test_the_share_is_cpu_over_wall_of_the_recent_judges_together():
    concurrency = JudgeConcurrency(cores=2, ceiling=8)
    concurrency.finished(0.0, 1.0, 1.0)  # a computing judge
    concurrency.finished(1.0, 0.5, 9.0)  # a waiting one: 1.5 s of CPU in 10 s of wall
    assert abs(concurrency.cpu_share() - 0.15) < 1e-12
    assert concurrency.wanted() == 8  # 2 / 0.15 is 13 judges, held to the ceiling


def test_no_judge_is_added_while_the_machine_is_saturated():
    concurrency = JudgeConcurrency(cores=2, ceiling=8)
    concurrency.machine(0.0, (0.0, 0.0))
    concurrency.machine(GUARD_SECONDS, (1.0, 100.0))  # 1% idle over the guard's window
    assert [concurrency.finished(t, 1.0, 4.0) for t in range(3)] == [2, 2, 2]
    concurrency.machine(2 * GUARD_SECONDS, (40.0, 200.0))  # then 39% idle
    assert concurrency.finished(9.0, 1.0, 4.0) == 3


def test_a_short_reading_does_not_count():
    concurrency = JudgeConcurrency(cores=2, ceiling=8)
    concurrency.machine(0.0, (0.0, 0.0))
    concurrency.machine(GUARD_SECONDS / 4, (0.0, 100.0))  # saturated, but only for a moment
    assert concurrency.finished(1.0, 1.0, 4.0) == 3


def test_the_instructors_number_is_kept_whatever_the_judges_spend():
    concurrency = JudgeConcurrency.for_machine(workers=3)
    assert concurrency.target == 3 and concurrency.ceiling == 3
    assert [concurrency.finished(t, 0.1, 10.0) for t in range(5)] == [3] * 5
    assert "3 judges at once (--workers)" in concurrency.describe()


def test_the_summary_gives_the_range_the_mean_over_time_and_the_cpu_share():
    concurrency = JudgeConcurrency(cores=2, ceiling=8)
    concurrency.finished(0.0, 0.0, 0.0)  # starts the clock, changes nothing
    concurrency.finished(10.0, 1.0, 4.0)  # 2 judges for 10 s, then 3 for 30 s
    assert concurrency.history == [(0.0, 2), (10.0, 3)]
    assert concurrency.mean_target(40.0) == (2 * 10 + 3 * 30) / 40
    assert concurrency.describe(40.0) == ("judges at once: 2 to 3, 2.8 on average (2 cores; at "
                                          "most 8; a judge used CPU 25% of its time)")


def test_memory_bounds_the_ceiling():
    assert ceiling_for(2, None) == 12
    assert ceiling_for(2, 3 * JUDGE_MEMORY_BYTES) == 3
    assert ceiling_for(2, 10) == 1


def test_this_machine_reports_its_cpu_times():
    idle, total = cpu_times()
    assert 0 <= idle <= total and total > 0


def test_the_longest_kind_of_job_goes_first_and_each_kind_is_tried_early():
    jobs = [Job(f"s{n}", "a", name, name) for n, name in enumerate(["retry"] * 6 + ["timeout"] * 3)]
    queue = JobQueue(jobs)
    first = queue.pop()
    assert first.exercise == "retry"  # nothing judged yet: the one with the most jobs left
    queue.judged("retry", 1.0)
    assert queue.pop().exercise == "timeout"  # not judged yet, so taken for the longest
    queue.judged("timeout", 8.0)
    # Timeout judges take 8 s, retry judges 1 s: the timeout jobs go first.
    assert [queue.pop().exercise for _ in range(2)] == ["timeout", "timeout"]
    assert [queue.pop().exercise for _ in range(5)] == ["retry"] * 5
    assert not queue


def test_students_are_handed_out_a_group_at_a_time_so_they_finish_all_along():
    jobs = [Job(f"s{n}", "a", name, name) for n in range(5) for name in ("retry", "timeout")]
    queue = JobQueue(jobs, group=2)
    queue.judged("timeout", 8.0)
    queue.judged("retry", 1.0)
    handed = [queue.pop() for _ in range(10)]
    assert [job.student for job in handed[:4]] == ["s0", "s1", "s0", "s1"]  # the first group first
    assert [job.exercise for job in handed[:4]] == ["timeout", "timeout", "retry", "retry"]
    assert [job.student for job in handed[4:]] == ["s2", "s3", "s2", "s3", "s4", "s4"]
    assert not queue
