"""The ``ideal`` preset is the noise-free reference, not a cost bound (issue 9, item 11): its
name stays (tests and users rely on it as the exact reference), its description and every
report on it say what it is, and why it can cost more than a real chip: its digital ops and
memory are priced, with 32-bit activations at 45 nm."""
import analogc
import hw_models
from analogc.ir import Graph, Op, OpKind


def _graph():
    g = Graph("m", "manual")
    g.add(Op(name="fc", kind=OpKind.MVM, target="linear", in_features=300, out_features=70,
             vectors=5, module_path="fc"))
    g.add(Op(name="sm", kind=OpKind.SOFTMAX, target="softmax", elements=350), ["fc"])
    return g


def test_ideal_says_it_is_a_noise_free_reference_not_a_cost_bound():
    hw = hw_models.load("ideal")
    d = hw.params["hardware"]["description"]
    assert d.startswith("noise-free reference") and "not a cost bound" in d
    assert hw.tile_model.exact  # still exact: the noise-free reference of deploy


def test_report_on_ideal_notes_that_memory_and_digital_are_priced():
    rep = analogc.estimate(analogc.compile(_graph(), hw="ideal"))
    notes = [n for n in rep.notes if "noise-free reference" in n]
    assert len(notes) == 1
    share = (rep.breakdown["memory"] + rep.breakdown["digital"]) / rep.summary["energy_j"]
    assert f"({share:.0%} of the energy here)" in notes[0]
    assert "45 nm, 32-bit activations" in notes[0]
    assert "note: ideal is the noise-free reference" in rep.to_text()
    # a real preset gets no such note
    assert not any("noise-free" in n for n in analogc.estimate(analogc.compile(_graph(), hw="pcm-hermes")).notes)
