"""How model sessions are configured: onnxruntime's threads spin briefly between a run's
operators and sleep when the run ends, unless the operator lets them spin on
(``models.spin_wait``)."""

import pytest

from llm_shield.models.session import SPIN_MICROSECONDS, session_options


def test_threads_spin_briefly_within_a_run_and_sleep_after_it() -> None:
    options = session_options(2, "all")
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "1"
    assert options.get_session_config_entry("session.intra_op.spin_duration_us") == str(
        SPIN_MICROSECONDS
    )
    assert options.get_session_config_entry("session.force_spinning_stop") == "1"
    assert options.intra_op_num_threads == 2
    assert options.inter_op_num_threads == 1


def test_spin_wait_leaves_spinning_to_onnxruntime() -> None:
    options = session_options(0, "basic", spin_wait=True)
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == "1"
    for key in ("session.force_spinning_stop", "session.intra_op.spin_duration_us"):
        with pytest.raises(RuntimeError):  # not set: onnxruntime's own behaviour
            options.get_session_config_entry(key)
