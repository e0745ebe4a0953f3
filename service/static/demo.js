// The demo page: pose keypoints drawn over an uploaded image, and a sequence forecast plotted.
// Plain DOM and SVG, same-origin requests only.
"use strict";

const SVG = "http://www.w3.org/2000/svg";
const COLOURS = ["#1e6ec8", "#d9480f", "#2b8a3e", "#862e9c", "#e67700", "#0b7285", "#c2255c", "#5c940d"];
const models = new Map();

const $ = (id) => document.getElementById(id);

function headers(extra = {}) {
  const key = $("api-key").value.trim();
  return key ? { ...extra, Authorization: `Bearer ${key}` } : extra;
}

function status(id, text, isError = false) {
  const node = $(id);
  node.textContent = text;
  node.classList.toggle("error", isError);
}

function svgNode(tag, attributes) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  return node;
}

async function call(url, options) {
  const response = await fetch(url, { ...options, headers: headers(options.headers || {}) });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
  return body;
}

async function loadModels() {
  try {
    const listing = await call("/v1/models", { method: "GET" });
    for (const info of listing) models.set(info.name, info);
    fill($("pose-model"), listing.filter((m) => m.task === "pose"));
    fill($("forecast-model"), listing.filter((m) => m.task === "forecast"));
    forecastModelChanged();
  } catch (error) {
    status("pose-status", `Could not list models: ${error.message}`, true);
  }
}

function fill(select, infos) {
  select.replaceChildren(...infos.map((info) => new Option(`${info.name} (v${info.version})`, info.name)));
}

// Person boxes the user dragged on the image, [x, y, w, h] in its pixels; none: the whole image is one person.
let poseBoxes = [];
let poseImageUrl = null;

function newPoseImage() {
  poseBoxes = [];
  const file = $("pose-file").files[0];
  poseImageUrl = file ? URL.createObjectURL(file) : null;
  sendPose();
}

function clearBoxes() {
  poseBoxes = [];
  sendPose();
}

async function sendPose() {
  const file = $("pose-file").files[0];
  const name = $("pose-model").value;
  if (!file || !name) return;
  status("pose-status", "Running…");
  const form = new FormData();
  form.append("images", file);
  if (poseBoxes.length) form.append("boxes", JSON.stringify(poseBoxes));
  try {
    const body = await call(`/v1/models/${encodeURIComponent(name)}/pose`, { method: "POST", body: form });
    drawPose(poseImageUrl, body);
    const people = poseBoxes.length ? `, ${poseBoxes.length} person box(es)` : "; drag on the image to add boxes";
    status("pose-status", `${body.model_name} v${body.model_version}: ${body.time_ms.toFixed(1)} ms${people}`);
  } catch (error) {
    status("pose-status", error.message, true);
  }
}

function drawPose(imageUrl, body) {
  const result = body.results[0];
  const view = $("pose-view");
  view.setAttribute("viewBox", `0 0 ${result.width} ${result.height}`);
  const people = result.people ?? [{ box: null, keypoints: result.keypoints }];
  const radius = Math.max(result.width, result.height) / 150 + 1;
  const shapes = [svgNode("image", { href: imageUrl, x: 0, y: 0, width: result.width, height: result.height })];
  people.forEach((person, index) => {
    const points = person.keypoints;
    const stroke = COLOURS[index % COLOURS.length];
    if (person.box) {
      const [x, y, width, height] = person.box;
      shapes.push(svgNode("rect", { class: "box", x, y, width, height, stroke }));
    }
    for (const [a, b] of body.skeleton) {
      shapes.push(svgNode("line", { class: "bone", x1: points[a].x, y1: points[a].y, x2: points[b].x, y2: points[b].y }));
    }
    for (const p of points) shapes.push(svgNode("circle", { class: "joint", cx: p.x, cy: p.y, r: radius }));
  });
  view.replaceChildren(...shapes);
  $("pose-table").tBodies[0].replaceChildren(
    ...people.flatMap((person, index) =>
      person.keypoints.map((p) => {
        const row = document.createElement("tr");
        for (const text of [index + 1, p.name, p.x.toFixed(1), p.y.toFixed(1), p.confidence.toFixed(3)]) {
          row.insertCell().textContent = text;
        }
        return row;
      }),
    ),
  );
}

// Dragging on the image draws a person box; releasing it asks for that box's keypoints too.
function imagePoint(event) {
  const view = $("pose-view");
  const point = new DOMPoint(event.clientX, event.clientY).matrixTransform(view.getScreenCTM().inverse());
  return [point.x, point.y];
}

function startBox(event) {
  if (!poseImageUrl || event.button !== 0) return;
  const view = $("pose-view");
  const [x0, y0] = imagePoint(event);
  const outline = svgNode("rect", { class: "box drawing", x: x0, y: y0, width: 0, height: 0 });
  view.append(outline);
  view.setPointerCapture(event.pointerId);
  const corners = (moved) => {
    const [x1, y1] = imagePoint(moved);
    return [Math.min(x0, x1), Math.min(y0, y1), Math.abs(x1 - x0), Math.abs(y1 - y0)];
  };
  const move = (moved) => {
    const [x, y, width, height] = corners(moved);
    for (const [name, value] of Object.entries({ x, y, width, height })) outline.setAttribute(name, value);
  };
  const end = (released) => {
    view.removeEventListener("pointermove", move);
    view.removeEventListener("pointerup", end);
    outline.remove();
    const box = corners(released).map((value) => Math.round(value * 10) / 10);
    if (box[2] >= 4 && box[3] >= 4) {
      poseBoxes.push(box);
      sendPose();
    }
  };
  view.addEventListener("pointermove", move);
  view.addEventListener("pointerup", end);
}

function forecastModelChanged() {
  const info = models.get($("forecast-model").value);
  if (!info) return;
  $("horizon").max = info.max_horizon;
  $("horizon").value = info.max_horizon;
  exampleSequence();
}

// COCO-17 keypoints of a person standing upright, in pixels of a 128 x 128 frame (as the schema's example).
const STANDING = [
  [64, 30], [66, 28], [62, 28], [69, 29], [59, 29], [72, 40], [56, 40], [75, 54], [53, 54],
  [77, 67], [51, 67], [69, 70], [59, 70], [70, 88], [58, 88], [71, 106], [57, 106],
];

function exampleSequence() {
  const info = models.get($("forecast-model").value);
  if (!info) return;
  const wanted = info.step_shape.length === 1 && info.step_shape[0] === 1 ? 36 : 12;  // three seasons of a series
  const steps = Math.min(Math.max(info.min_input_length, wanted), info.max_input_length || wanted);
  const size = info.step_shape.reduce((a, b) => a * b, 1);
  const isKeypoints = info.step_shape.length === 2 && info.step_shape[0] === STANDING.length;
  const sequence = Array.from({ length: steps }, (_, t) => {
    if (isKeypoints) {
      // A person standing in a 128 x 128 frame, stepping right and swinging the arms: something a pose forecaster
      // has seen in training.
      return STANDING.map(([x, y], j) => [+(x + 1.5 * t + (j >= 7 && j <= 10 ? 3 * Math.sin(0.6 * t) : 0)).toFixed(2), y]);
    }
    if (size === 1) {
      // A monthly series rising with a yearly cycle, like the CO2 record the demo series forecaster learned.
      return [+(368 + 0.15 * t + 3 * Math.sin((2 * Math.PI * t) / 12)).toFixed(2)];
    }
    const flat = Array.from({ length: size }, (_, j) => +(Math.sin(0.4 * t + j) + j * 0.1).toFixed(3));
    return reshape(flat, info.step_shape);
  });
  $("sequence").value = JSON.stringify(sequence);
}

function reshape(flat, shape) {
  if (shape.length <= 1) return flat;
  const inner = shape.slice(1).reduce((a, b) => a * b, 1);
  return Array.from({ length: shape[0] }, (_, i) => reshape(flat.slice(i * inner, (i + 1) * inner), shape.slice(1)));
}

async function sendForecast() {
  const name = $("forecast-model").value;
  let sequence;
  try {
    sequence = JSON.parse($("sequence").value);
  } catch (error) {
    status("forecast-status", `The sequence is not JSON: ${error.message}`, true);
    return;
  }
  const info = models.get(name);
  const level = info && info.interval_levels ? info.interval_levels[0] : null;
  status("forecast-status", "Running…");
  try {
    const request = { sequence, horizon: Number($("horizon").value) };
    if (level !== null) request.intervals = [level];
    const body = await call(`/v1/models/${encodeURIComponent(name)}/forecast`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(request),
    });
    const flat = (rows) => rows.map((step) => [step].flat(Infinity));
    const band = body.intervals ? body.intervals[String(level)] : null;
    plot(flat(sequence), flat(body.forecast), band ? [flat(band.lower), flat(band.upper)] : null);
    const parts = [`${body.model_name} v${body.model_version}: ${body.horizon} steps, ${body.time_ms.toFixed(1)} ms`];
    if (band) parts.push(`shaded: ${Math.round(level * 100)}% interval`);
    if (info && info.versus_baseline) {
      const versus = info.versus_baseline;
      parts.push(`test RMSE ${versus.model_rmse.toFixed(3)} vs ${versus.baseline} ${versus.baseline_rmse.toFixed(3)}`);
    }
    status("forecast-status", parts.join("; "));
  } catch (error) {
    status("forecast-status", error.message, true);
  }
}

function plot(history, future, band) {
  const all = history.concat(future);
  const values = all.flat().concat(band ? band.flat(2) : []);
  const low = Math.min(...values);
  const high = Math.max(...values);
  const [width, height, pad] = [640, 240, 20];
  const x = (t) => pad + (t * (width - 2 * pad)) / Math.max(all.length - 1, 1);
  const y = (v) => height - pad - ((v - low) * (height - 2 * pad)) / (high - low || 1);
  const line = (rows, start, feature) => rows.map((row, i) => `${x(start + i)},${y(row[feature])}`).join(" ");
  const features = Math.min(history[0].length, COLOURS.length);
  const shapes = [svgNode("line", { class: "axis", x1: x(history.length - 1), y1: pad, x2: x(history.length - 1), y2: height - pad })];
  for (let f = 0; f < features; f += 1) {
    const stroke = COLOURS[f];
    if (band) {
      const corner = (row, i) => `${x(history.length + i)},${y(row[f])}`;
      const outline = band[1].map(corner).concat(band[0].map(corner).reverse()).join(" ");  // upper, then lower back
      shapes.push(svgNode("polygon", { class: "band", fill: stroke, points: outline }));
    }
    shapes.push(svgNode("polyline", { class: "history", stroke, points: line(history, 0, f) }));
    const joined = [history[history.length - 1]].concat(future);
    shapes.push(svgNode("polyline", { class: "future", stroke, points: line(joined, history.length - 1, f) }));
  }
  $("forecast-plot").replaceChildren(...shapes);
}

document.addEventListener("DOMContentLoaded", () => {
  $("pose-file").addEventListener("change", newPoseImage);
  $("pose-view").addEventListener("pointerdown", startBox);
  $("clear-boxes").addEventListener("click", clearBoxes);
  $("pose-model").addEventListener("change", sendPose);
  $("forecast-model").addEventListener("change", forecastModelChanged);
  $("example").addEventListener("click", exampleSequence);
  $("send").addEventListener("click", sendForecast);
  $("api-key").addEventListener("change", loadModels);
  loadModels();
});
