"""Event detection on hand-made prediction sequences: exact boundaries, merging, minimum length, flush."""

import pytest

from lrcn.runtime.events import EventConfig, EventDetector, detect

STEP = 0.5
LABELS = ["a", "b"]


def seq(above: set[float], end: float = 10.0, p: float = 0.9) -> list[tuple[float, list[float]]]:
    """(t, [p_a, p_b]) every STEP from 0 to `end` (exclusive); label a at p where t is in `above`."""
    out = []
    for i in range(int(end / STEP)):
        t = i * STEP
        pa = p if t in above else 0.1
        out.append((t, [pa, 1 - pa]))
    return out


def span(a: float, b: float) -> set[float]:
    """The sample times from a to b inclusive."""
    return {a + i * STEP for i in range(int(round((b - a) / STEP)) + 1)}


def a_events(events):
    return [(e.start, e.end, e.predictions) for e in events if e.label == "a"]


def test_exact_boundaries_and_record_timing():
    det = EventDetector(LABELS, EventConfig(threshold=0.5, min_event=1.0, merge_gap=1.0), run_id="r")
    emitted = []
    for t, probs in seq(span(2.0, 5.0)):
        for rec in det.update("cam", probs, t):
            if rec["label"] == "a":
                emitted.append((t, rec["phase"], rec["start"], rec["end"]))
    # start goes out once the label held min_event (t=3.0); end once the gap (from 5.5) reached merge_gap
    assert emitted == [(3.0, "start", 2.0, None), (6.5, "end", 2.0, 5.0)]
    (ev,) = [e for e in det.events if e.label == "a"]
    assert (ev.start, ev.end, ev.duration, ev.predictions) == (2.0, 5.0, 3.0, 7)
    assert ev.peak == pytest.approx(0.9) and ev.mean == pytest.approx(0.9)
    assert ev.id.startswith("r-")


def test_short_gaps_merge_long_gaps_split():
    cfg = EventConfig(min_event=0.5, merge_gap=1.0)
    one_below = span(2.0, 3.0) | span(4.0, 5.0)  # 3.5 below: a 0 s gap
    assert a_events(detect(LABELS, seq(one_below), cfg)) == [(2.0, 5.0, 6)]
    three_below = span(2.0, 3.0) | span(5.0, 6.0)  # 3.5, 4.0, 4.5 below: the gap reaches 1.0 s at 4.5
    assert a_events(detect(LABELS, seq(three_below), cfg)) == [(2.0, 3.0, 3), (5.0, 6.0, 3)]
    two_below = span(2.0, 3.0) | span(4.5, 5.5)  # 3.5, 4.0 below: 0.5 s, merged
    assert a_events(detect(LABELS, seq(two_below), cfg)) == [(2.0, 5.5, 6)]
    # merge_gap 0: any prediction below the threshold ends the event
    assert a_events(detect(LABELS, seq(one_below), EventConfig(min_event=0.5, merge_gap=0.0))) == [
        (2.0, 3.0, 3),
        (4.0, 5.0, 3),
    ]


def test_min_event_drops_short_runs_and_counts_merged_time():
    cfg = EventConfig(min_event=1.0, merge_gap=1.0)
    assert a_events(detect(LABELS, seq(span(2.0, 2.5)), cfg)) == []  # 0.5 s < 1.0 s
    assert a_events(detect(LABELS, seq(span(2.0, 3.0)), cfg)) == [(2.0, 3.0, 3)]  # exactly 1.0 s
    # two 0.5 s runs joined by a short gap span 1.5 s together: one event
    assert a_events(detect(LABELS, seq({2.0, 2.5, 3.5}), cfg)) == [(2.0, 3.5, 3)]
    det = EventDetector(LABELS, cfg)
    assert [r for t, p in seq(span(2.0, 2.5)) for r in det.update("s", p, t) if r["label"] == "a"] == []


def test_flush_at_stream_end_closes_open_events():
    det = EventDetector(LABELS, EventConfig(min_event=1.0, merge_gap=1.0), run_id="r")
    phases = [r["phase"] for t, p in seq(span(8.0, 9.5)) for r in det.update("s", p, t) if r["label"] == "a"]
    assert phases == ["start"]
    assert [e.label for e in det.active("s")] == ["a"]  # b (0 to 7.5) ended when its gap reached 1 s
    out = det.finish("s")
    assert [(r["label"], r["phase"], r["start"], r["end"]) for r in out] == [("a", "end", 8.0, 9.5)]
    det.update("s", [0.9, 0.1], 0.0)
    det.update("s", [0.9, 0.1], 0.5)  # 0.5 s < min_event: dropped at the end, no record
    assert det.finish("s") == []
    assert det.active("s") == [] and det.finish("s") == []


def test_streams_are_independent_and_wall_clock_is_carried():
    det = EventDetector(LABELS, EventConfig(min_event=0.5, merge_gap=0.5), run_id="r")
    recs = []
    for t, p in seq(span(1.0, 2.0), end=4.0):
        recs += det.update("door", p, t, wall=1000.0 + t)
        recs += det.update("yard", [0.2, 0.8], t)
    recs += det.finish_all()
    door = [r for r in recs if r["stream"] == "door" and r["label"] == "a"]
    assert [(r["phase"], r["start_wall"], r["end_wall"]) for r in door] == [
        ("start", 1001.0, None),
        ("end", 1001.0, 1002.0),
    ]
    assert door[0]["id"] == door[1]["id"]
    yard = [r for r in recs if r["stream"] == "yard"]
    assert [(r["label"], r["phase"], r["start"], r["end"]) for r in yard] == [
        ("b", "start", 0.0, None),
        ("b", "end", 0.0, 3.5),
    ]
    assert len({r["id"] for r in recs}) == len(recs) // 2


def test_peak_and_mean_and_bad_input():
    preds = [(0.0, [0.6, 0.4]), (0.5, [0.8, 0.2]), (1.0, [0.7, 0.3])]
    (ev,) = [e for e in detect(LABELS, preds, EventConfig(min_event=1.0)) if e.label == "a"]
    assert ev.peak == pytest.approx(0.8) and ev.mean == pytest.approx(0.7)
    with pytest.raises(ValueError, match="3 probabilities for 2 labels"):
        EventDetector(LABELS).update("s", [0.1, 0.2, 0.7], 0.0)
    for bad in (dict(threshold=0.0), dict(threshold=1.5), dict(min_event=-1), dict(merge_gap=-0.1)):
        with pytest.raises(ValueError):
            EventConfig(**bad)
