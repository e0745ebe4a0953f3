"""/docs, /redoc and the demo page in a real headless Chromium: they render, work, and fetch nothing external."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageDraw

from tests.service.cdp import Page, chromium
from tests.service.conftest import Server


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    with chromium(tmp_path_factory.mktemp("chromium-profile")) as tab:
        yield tab


def only_same_origin(page: Page, server: Server) -> None:
    foreign = [url for url in page.requests if not url.startswith((server.url, "data:", "blob:"))]
    assert not foreign, f"requests left the server: {foreign}"
    assert not page.console_errors, page.console_errors


def test_swagger_ui_renders_and_try_it_out_succeeds(page: Page, task_server: Server) -> None:
    page.requests.clear()
    page.open(f"{task_server.url}/docs")
    page.wait_for("document.querySelectorAll('.opblock').length >= 10")
    paths = page.evaluate("[...document.querySelectorAll('.opblock-summary-path')].map(e => e.textContent).join(' ')")
    for path in ("/v1/models/{name}/pose", "/v1/models/{name}/forecast", "/v1/evaluate/pck", "/v1/jobs/{job_id}"):
        assert path in paths.replace("\u200b", "")
    block = "document.querySelector('#operations-evaluation-mse_v1_evaluate_mse_post')"
    page.evaluate(f"{block}.querySelector('.opblock-summary-control').click()")
    page.wait_for(f"!!{block}.querySelector('.try-out__btn')")
    page.evaluate(f"{block}.querySelector('.try-out__btn').click()")
    page.wait_for(f"!!{block}.querySelector('button.execute')")
    page.evaluate(f"{block}.querySelector('button.execute').click()")
    status = page.wait_for(f"{block}.querySelector('.live-responses-table tbody .response-col_status')?.textContent")
    assert status.strip() == "200"
    body = page.evaluate(f"{block}.querySelector('.live-responses-table tbody .response-col_description').textContent")
    assert '"rmse"' in body
    assert any(url == f"{task_server.url}/v1/evaluate/mse" for url in page.requests)
    only_same_origin(page, task_server)


def test_redoc_renders_offline(page: Page, task_server: Server) -> None:
    page.requests.clear()
    page.open(f"{task_server.url}/redoc")
    page.wait_for("document.body.innerText.includes('Keypoints of the people in one or more images')")
    only_same_origin(page, task_server)


def test_demo_page_draws_the_skeleton_and_plots_a_forecast(page: Page, task_server: Server, tmp_path: Path) -> None:
    photo = tmp_path / "person.png"
    image = Image.new("RGB", (160, 120), (180, 200, 220))
    ImageDraw.Draw(image).line([(80, 20), (80, 70), (60, 110)], fill=(30, 30, 30), width=4)
    image.save(photo)
    page.requests.clear()
    page.open(f"{task_server.url}/")
    page.wait_for("document.querySelector('#pose-model').options.length > 0")
    page.set_files("#pose-file", [photo])
    page.wait_for("document.querySelectorAll('#pose-table tbody tr').length === 17")
    lines = page.evaluate(
        "[...document.querySelectorAll('#pose-view line.bone')].map(l => [l.x1, l.y1, l.x2, l.y2]"
        ".map(a => a.baseVal.value))"
    )
    assert len(lines) == 19  # COCO skeleton edges
    assert all(-160 < value < 320 for line in lines for value in line)
    assert page.evaluate("document.querySelector('#pose-view').getAttribute('viewBox')") == "0 0 160 120"
    assert page.evaluate("[...document.querySelector('#pose-table tbody tr').cells].map(c => c.textContent)")[:2] == [
        "1",
        "nose",
    ]

    # Two person boxes dragged with the mouse: each is sent, drawn, and gets its own skeleton and table rows.
    for (x0, y0), (x1, y1) in (((10, 10), (70, 110)), ((90, 20), (150, 100))):
        drag(page, "#pose-view", (x0, y0), (x1, y1), image_size=(160, 120))
    page.wait_for("document.querySelectorAll('#pose-view rect.box').length === 2")
    page.wait_for("document.querySelectorAll('#pose-table tbody tr').length === 34")
    boxes = page.evaluate(
        "[...document.querySelectorAll('#pose-view rect.box')].map(r => [r.x, r.y, r.width, r.height]"
        ".map(a => a.baseVal.value))"
    )
    for box, expected in zip(boxes, ([10, 10, 60, 100], [90, 20, 60, 80]), strict=True):
        assert box == pytest.approx(expected, abs=1.5)  # a box edge lands within a pixel or so of the drag
    assert len(page.evaluate("[...document.querySelectorAll('#pose-view line.bone')]")) == 38
    assert "2 person box(es)" in page.evaluate("document.querySelector('#pose-status').textContent")
    page.evaluate("document.querySelector('#clear-boxes').click()")
    page.wait_for("document.querySelectorAll('#pose-table tbody tr').length === 17")

    page.evaluate("document.querySelector('#example').click(); document.querySelector('#send').click()")
    page.wait_for("document.querySelectorAll('#forecast-plot polyline.future').length > 0")
    assert "v1" in page.evaluate("document.querySelector('#forecast-status').textContent")

    # A series forecaster with calibrated intervals: its band is shaded, its baseline comparison shown.
    page.evaluate(
        "const select = document.querySelector('#forecast-model'); select.value = 'series';"
        "select.dispatchEvent(new Event('change')); document.querySelector('#send').click()"
    )
    page.wait_for("document.querySelectorAll('#forecast-plot polygon.band').length === 3")
    status = page.evaluate("document.querySelector('#forecast-status').textContent")
    assert "80% interval" in status
    assert "vs seasonal_naive_drift" in status
    only_same_origin(page, task_server)


def drag(page: Page, selector: str, start: tuple[float, float], end: tuple[float, float], image_size: Any) -> None:
    """A real mouse drag (CDP input events) between two points given in the image's pixels."""
    frame = page.evaluate(
        f"(() => {{ const r = document.querySelector('{selector}').getBoundingClientRect();"
        " return [r.left, r.top, r.width, r.height]; })()"
    )
    left, top, width, height = frame
    scale = min(width / image_size[0], height / image_size[1])  # the SVG letterboxes its viewBox
    offset_x, offset_y = (width - scale * image_size[0]) / 2, (height - scale * image_size[1]) / 2

    def screen(point: tuple[float, float]) -> dict[str, float]:
        return {"x": left + offset_x + point[0] * scale, "y": top + offset_y + point[1] * scale}

    page.send("Input.dispatchMouseEvent", type="mousePressed", button="left", clickCount=1, **screen(start))
    middle = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2)
    for point in (middle, end):
        page.send("Input.dispatchMouseEvent", type="mouseMoved", button="left", buttons=1, **screen(point))
    page.send("Input.dispatchMouseEvent", type="mouseReleased", button="left", clickCount=1, **screen(end))
