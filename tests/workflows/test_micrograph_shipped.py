"""The shipped UHCS encoder on the real micrographs it never saw (its fold-0 test block)."""

from __future__ import annotations

import json

import pytest

from microdl.cli import main
from microdl.models.pretrained import PRETRAINED_DIR, SHIPPED, shipped_info


@pytest.fixture
def unseen_uhcs(shared_data, tmp_path):
    """A labelled folder of the shipped model's test micrographs (links to the real files)."""
    uhcs = shared_data / "uhcs"
    if not (PRETRAINED_DIR / SHIPPED.get("micrograph-uhcs")).is_file():
        pytest.skip("the micrograph-uhcs model is not shipped in this installation")
    from microdl.data.micrographs import load_micrograph_folder
    from microdl.workflows.micrograph import split

    labels = load_micrograph_folder(uhcs).labels
    info = shipped_info("micrograph-uhcs")
    _, _, test = split(labels, 5, 0)
    rows = [line for line in (uhcs / "labels.csv").read_text().splitlines()[1:] if line]
    folder = tmp_path / "unseen"
    (folder / "micrographs").mkdir(parents=True)
    chosen = [rows[i] for i in test]
    for row in chosen:
        name = row.split(",")[0]
        (folder / "micrographs" / name).symlink_to(uhcs / "micrographs" / name)
    (folder / "labels.csv").write_text("file,label,class_name\n" + "\n".join(chosen) + "\n")
    return folder, info


def test_shipped_encoder_classifies_unseen_uhcs_micrographs(unseen_uhcs, capsys):
    folder, info = unseen_uhcs
    assert main(["micrograph", "evaluate", "--data", str(folder), "--no-progress", "--json"]) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["n"] == 81 and res["class_names"] == ["network", "pearlite", "spheroidite"]
    # the number recorded when the model was shipped, reproduced (same model, same images, same SVM)
    assert res["accuracy"] == pytest.approx(info["test_metrics_fold0"]["svm_accuracy"], abs=1.5 / 81)
    assert res["accuracy"] > 0.8
