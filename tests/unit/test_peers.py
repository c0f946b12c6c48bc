"""The peer runner: a peer's own interpreter scores texts in a subprocess; results are cached."""

import sys
from pathlib import Path

import pytest

from llm_shield.ops.peers import Peer, PeerError, score

FAKE_PEER = """
import json, sys
for line in sys.stdin:
    text = json.loads(line)["text"]
    if text == "crash":
        sys.exit("the peer fell over")
    print(json.dumps({"score": min(1.0, len(text) / 100), "flagged": "attack" in text}))
"""


def fake_peer(tmp_path: Path) -> tuple[Peer, Path]:
    root = tmp_path / "peers"
    (root / "fake" / "bin").mkdir(parents=True)
    (root / "fake" / "bin" / "python").symlink_to(sys.executable)
    (root / "fake" / ".installed").write_text("nothing to install\n")
    script = tmp_path / "fake_score.py"
    script.write_text(FAKE_PEER)
    return Peer("fake", "Fake peer", (), str(script), "MIT", "for the test"), root


def test_scores_come_back_in_order_and_are_cached(tmp_path: Path) -> None:
    peer, root = fake_peer(tmp_path)
    texts = ["hello", "an attack on you", "x" * 300]
    first = score(peer, texts, root)
    assert first.flagged == [False, True, False]
    assert first.scores == [0.05, 0.16, 1.0]
    Path(peer.script).unlink()  # a second run must not need the peer at all
    again = score(peer, texts, root)
    assert again.scores == first.scores and again.flagged == first.flagged


def test_a_failing_peer_is_one_clear_error(tmp_path: Path) -> None:
    peer, root = fake_peer(tmp_path)
    with pytest.raises(PeerError, match="fake failed: the peer fell over"):
        score(peer, ["fine", "crash"], root)
