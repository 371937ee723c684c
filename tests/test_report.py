"""mfrec compare: the comparison, the HTML report (checked in headless Chromium) and the export."""

import numpy as np
import pytest

from mfrec.testing import chromium_for_tests
from mfrec.compare import run_comparison
from mfrec.errors import DataError, MfrecError
from mfrec.models.catalog import UnknownModelError, model_classes
from mfrec.export import export_projector, read_projector_vectors
from mfrec.report import write_report

#: small, fast hyperparameters so the whole comparison runs in seconds on ml-100k
TABLE_ROWS_JS = "rows => rows.map(r => Array.from(r.cells).map(c => c.textContent))"
FAST = {"svd": {"factors": 16, "epochs": 5}, "als": {"factors": 16, "iterations": 4},
        "bpr": {"factors": 16, "epochs": 5}, "warp": {"factors": 16, "epochs": 5}}


def available_models():
    return [name for name in ("popularity", "svd", "als", "bpr", "warp") if name in model_classes()]


@pytest.fixture(scope="module")
def comparison(data_dir, data_file):
    data_file("ml-100k/u.data")
    names = available_models()
    params = {n: p for n, p in FAST.items() if n in names}
    return run_comparison("ml-100k", names, data_dir=data_dir, k=10, seed=3, model_params=params, threads=1)


def test_comparison_has_one_row_per_model(comparison):
    rows = comparison.table_rows()
    assert [r["model"] for r in rows] == available_models()
    for row in rows:
        assert 0 <= row["ndcg@10"] <= 1 and row["fit time (s)"] > 0
        assert 0 <= row["genre coherence@10"] <= 1
        assert 0 <= row["franchise hit@10"] <= 1 and 0 <= row["franchise recall@10"] <= row["franchise hit@10"]
        assert 0 <= row["obscure@10"] <= 1
        assert (row["rmse"] is not None) == (row["model"] == "svd")
    chance = [note for note in comparison.notes if "chance level" in note]
    assert len(chance) == 1 and f"{comparison.runs[0].coherence['chance']:.4f}" in chance[0]


def test_report_renders_in_headless_chromium(comparison, tmp_path):
    chromium = chromium_for_tests()
    playwright = pytest.importorskip("playwright.sync_api")
    path = write_report(comparison, tmp_path / "report.html")
    errors = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        page = browser.new_page()
        page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        page.goto(path.resolve().as_uri())
        page.wait_for_load_state("load")
        images = page.eval_on_selector_all("img", "els => els.map(e => [e.alt, e.complete, e.naturalWidth, "
                                                  "e.naturalHeight])")
        metrics = page.eval_on_selector_all("table.metrics tbody tr", TABLE_ROWS_JS)
        header = page.eval_on_selector_all("table.metrics thead th", "cells => cells.map(c => c.textContent)")
        similar_headers = page.eval_on_selector_all("table.similar thead tr", TABLE_ROWS_JS)
        page_text = page.inner_text("body")
        browser.close()
    assert errors == []
    assert len(images) >= 2, "learning curves and embedding maps are images"
    for alt, complete, width, height in images:
        assert complete and width > 0 and height > 0, f"image {alt!r} did not render"
    # the report's table holds the same models and numbers as the comparison
    rows = comparison.table_rows()
    assert [r[0] for r in metrics] == [r["model"] for r in rows]
    ndcg_col = header.index("ndcg@10")
    for shown, row in zip(metrics, rows):
        assert shown[ndcg_col] == f"{row['ndcg@10']:.4f}"
    assert similar_headers and similar_headers[0] == ["#"] + [r["model"] for r in rows]
    assert "Toy Story" in page_text


def test_export_round_trips(comparison, tmp_path):
    run = next(r for r in comparison.runs if r.model.item_factors_.shape[1] > 0)
    paths = export_projector(run.model, tmp_path / run.name)
    np.testing.assert_array_equal(read_projector_vectors(paths["items"]), run.model.item_factors_)
    np.testing.assert_array_equal(read_projector_vectors(paths["users"]), run.model.user_factors_)
    lines = paths["items_metadata"].read_text(encoding="utf-8").splitlines()
    assert lines[0].split("\t") == ["id", "title", "year", "genres", "popularity"]
    assert len(lines) == 1 + run.model.item_factors_.shape[0]
    first = lines[1].split("\t")
    assert first[0] == str(run.model.item_ids_.raw[0])
    assert int(first[4]) == run.model.interactions_.item_counts()[0]
    config = paths["config"].read_text()
    assert 'tensor_path: "items.tsv"' in config and 'metadata_path: "items_metadata.tsv"' in config


def test_dataset_without_titles_or_genres(tmp_path):
    rng = np.random.default_rng(0)
    lines = ["user,item,rating"] + [f"{u},{i},{rng.integers(1, 6)}"
                                    for u in range(40) for i in rng.choice(30, 12, replace=False)]
    ratings = tmp_path / "ratings.csv"
    ratings.write_text("\n".join(lines) + "\n")
    result = run_comparison(str(ratings), ["popularity"], k=5, threads=1)
    assert any("no genres" in note for note in result.notes)
    assert result.runs[0].coherence is None and result.runs[0].franchise is None
    assert result.table_rows()[0]["franchise hit@5"] is None
    path = write_report(result, tmp_path / "r.html")
    assert "mfrec comparison" in path.read_text()


def test_bad_input_is_reported(comparison, tmp_path, data_dir):
    with pytest.raises(UnknownModelError, match="unknown model 'svdd'"):
        run_comparison("ml-100k", ["svdd"], data_dir=data_dir)
    with pytest.raises(ValueError, match="larger than the catalogue"):
        run_comparison("ml-100k", ["popularity"], data_dir=data_dir, k=100000)
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(MfrecError, match="cannot write the report"):
        write_report(comparison, blocker / "report.html")
    with pytest.raises(DataError, match="unknown data set"):
        run_comparison("no-such-dataset", ["popularity"])
