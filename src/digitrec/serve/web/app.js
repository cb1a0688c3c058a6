"use strict";
// The digitrec page: draw on a canvas or hand over an image; the answer follows as you write.
// Requests are debounced and never overlap: while one is in flight, the latest drawing waits.

const LOW_CONFIDENCE = 0.5;
const DEBOUNCE_MS = 120;
const PEN_WIDTH = 18; // in canvas pixels of 280: about MNIST's stroke once shrunk to 20x20

const $ = (id) => document.getElementById(id);
const pad = $("pad");
const ctx = pad.getContext("2d");
const uploaded = $("uploaded");
const strokes = []; // each a list of [x, y] in canvas pixels, for Undo
let current = null;
let timer = null;
let inFlight = false;
let encoding = 0; // drawings being encoded as PNG, to be sent
let pending = null; // the newest image waiting for the request in flight
// or "number" or "sum": a wide canvas, read by /api/read or /api/calc; or "table": a photo
// of a page, read by /api/table
let mode = "digit";
const ENDPOINTS = { digit: "/api/predict", number: "/api/read", sum: "/api/calc",
                    table: "/api/table" };
const MODES = Object.keys(ENDPOINTS);
// A server reachable from elsewhere takes corrections only with its token, which the page is
// given in its address as /#token=...: a fragment never reaches the server's logs.
const TOKEN = new URLSearchParams(location.hash.slice(1)).get("token");
let readingId = null; // the id of the reading shown, which a correction names

function buildCorrection() {
  const group = $("correct-digit");
  for (let d = 0; d < 10; d++) {
    const button = document.createElement("button");
    button.type = "button";
    button.textContent = String(d);
    button.setAttribute("aria-pressed", "false");
    button.setAttribute("aria-label", `It was ${d}`);
    button.addEventListener("click", () => correct(String(d), button));
    group.appendChild(button);
  }
  $("correct").addEventListener("submit", (event) => {
    event.preventDefault();
    // Lines of a number are typed apart by spaces; the server keeps them apart by newlines.
    correct($("correct-text").value.trim().split(/\s+/).join("\n"), null);
  });
  const writer = $("writer");
  writer.value = localStorage.getItem("digitrec-writer") || "";
  writer.addEventListener("change", () => localStorage.setItem("digitrec-writer",
                                                               writer.value.trim()));
}

// Offer "Wrong? It was:" for a reading the server can be told about, or hide it.
function offerCorrection(result) {
  readingId = result && result.id ? result.id : null;
  $("correct").hidden = readingId === null;
  $("correct-digit").hidden = mode !== "digit";
  $("correct-number").hidden = mode !== "number";
  // A reading that lands while the user types their answer does not overwrite it.
  const text = $("correct-text");
  if (document.activeElement !== text) {
    text.value = result && mode === "number" ? result.text.replace(/\n/g, " ") : "";
  }
  setCorrectStatus("", "");
  markChosen(null);
}

function markChosen(button) {
  for (const b of $("correct-digit").querySelectorAll("button")) {
    b.setAttribute("aria-pressed", String(b === button));
  }
}

function setCorrectStatus(text, kind) {
  const status = $("correct-status");
  status.textContent = text;
  status.className = "correct-status" + (kind ? " " + kind : "");
}

// Send a correction to the server: the promise of its answer, or of an error saying why not.
function sendCorrection(correction) {
  const headers = { "Content-Type": "application/json" };
  if (TOKEN) headers.Authorization = `Bearer ${TOKEN}`;
  return fetch("/api/feedback", { method: "POST", headers, body: JSON.stringify(correction) })
    .then(async (response) => {
      const body = await response.json().catch(() => ({}));
      if (response.status === 401) {
        throw new Error("this server takes corrections only with its token: open the page " +
                        "as /#token=YOUR-TOKEN");
      }
      if (!response.ok) throw new Error(body.detail || `the server answered ${response.status}`);
      return body;
    });
}

function correct(label, button) {
  if (!readingId || !label) return;
  const writer = $("writer").value.trim();
  setCorrectStatus("Saving…", "");
  sendCorrection({ id: readingId, label, writer: writer || null })
    .then((body) => {
      markChosen(button);
      setCorrectStatus(`Thank you: kept as ${body.label.replace(/\n/g, " ")} ` +
                       `(correction ${body.correction}).`, "");
    })
    .catch((error) => setCorrectStatus(`Not saved: ${error.message}`, "error"));
}

function buildBars() {
  const bars = $("bars");
  for (let d = 0; d < 10; d++) {
    const li = document.createElement("li");
    li.innerHTML = `<span>${d}</span><span class="track"><span class="fill"></span></span>` +
                   `<span class="pct">-</span>`;
    bars.appendChild(li);
  }
}

function redraw() {
  ctx.clearRect(0, 0, pad.width, pad.height);
  ctx.lineCap = "round";
  ctx.lineJoin = "round";
  ctx.lineWidth = PEN_WIDTH;
  ctx.strokeStyle = "#111";
  ctx.fillStyle = "#111";
  for (const s of strokes) {
    if (s.length === 1) { // a tap is a dot
      ctx.beginPath();
      ctx.arc(s[0][0], s[0][1], PEN_WIDTH / 2, 0, 2 * Math.PI);
      ctx.fill();
      continue;
    }
    ctx.beginPath();
    ctx.moveTo(s[0][0], s[0][1]);
    for (const [x, y] of s.slice(1)) ctx.lineTo(x, y);
    ctx.stroke();
  }
}

function point(event) {
  const box = pad.getBoundingClientRect();
  return [(event.clientX - box.left) * pad.width / box.width,
          (event.clientY - box.top) * pad.height / box.height];
}

function showCanvas() {
  uploaded.hidden = true;
  pad.hidden = false;
}

pad.addEventListener("pointerdown", (event) => {
  event.preventDefault();
  showCanvas();
  pad.setPointerCapture(event.pointerId);
  current = [point(event)];
  strokes.push(current);
  redraw();
  schedule();
});
pad.addEventListener("pointermove", (event) => {
  if (!current) return;
  // Coalesced events keep fast strokes smooth where the browser batches them.
  const events = event.getCoalescedEvents ? event.getCoalescedEvents() : [event];
  for (const e of events.length ? events : [event]) current.push(point(e));
  redraw();
  schedule();
});
for (const type of ["pointerup", "pointercancel"]) {
  pad.addEventListener(type, () => {
    if (!current) return;
    current = null;
    sendCanvas(); // the stroke is finished: answer now
  });
}

function schedule() {
  if (timer) return;
  timer = setTimeout(() => { timer = null; sendCanvas(); }, DEBOUNCE_MS);
}

function sendCanvas() {
  if (timer) { clearTimeout(timer); timer = null; }
  if (!strokes.length) { reset(); return; }
  encoding++;
  setBusy();
  pad.toBlob((blob) => { encoding--; send(blob); }, "image/png");
}

function send(blob) {
  if (inFlight) { pending = blob; return; }
  inFlight = true;
  setBusy();
  setStatus("Reading…", "");
  const asked = mode;
  const header = asked === "table" && $("table-header").checked ? "?header=true" : "";
  fetch(ENDPOINTS[asked] + header, {
    method: "POST", body: blob,
    headers: { "Content-Type": blob.type || "application/octet-stream" } })
    .then(async (response) => {
      const body = await response.json().catch(() => ({}));
      if (!response.ok) throw new Error(body.detail || `the server answered ${response.status}`);
      if (asked !== mode) return; // the mode changed while this was in flight
      ({ digit: show, number: showReading, sum: showSum, table: showTable })[asked](body);
      offerCorrection(body);
    })
    .catch((error) => showError(error.message))
    .finally(() => {
      inFlight = false;
      setBusy();
      if (pending) { const next = pending; pending = null; send(next); }
    });
}

// Busy while any drawing is still to be read: the answer shown may not be the last.
function setBusy() {
  document.body.classList.toggle("busy", inFlight || encoding > 0);
}

function setStatus(text, kind) {
  const status = $("status");
  status.textContent = text;
  status.className = "status" + (kind ? " " + kind : "");
}

function setBars(probabilities) {
  const top = probabilities ? probabilities.indexOf(Math.max(...probabilities)) : -1;
  [...$("bars").children].forEach((li, d) => {
    const p = probabilities ? probabilities[d] : 0;
    li.querySelector(".fill").style.width = `${(100 * p).toFixed(1)}%`;
    li.querySelector(".pct").textContent = probabilities ? `${(100 * p).toFixed(1)}%` : "-";
    li.classList.toggle("top", d === top);
  });
}

// The answer's text (a digit or a number), or null with the reason nothing was read; then
// how sure the model is and a status line, of which `doubt` is the warning, if any.
function showAnswer(text, result, reason, doubt) {
  const digit = $("digit");
  if (text === null) {
    digit.textContent = "–";
    digit.classList.add("none");
    $("confidence").textContent = "";
    setStatus(reason, "warn");
    return;
  }
  digit.textContent = text;
  digit.classList.remove("none");
  // A table has no one confidence: each cell has its own.
  const sure = result.confidence === undefined ? ""
    : `${(100 * result.confidence).toFixed(1)}% sure · `;
  $("confidence").textContent = `${sure}${result.timing_ms.toFixed(1)} ms`;
  setStatus(doubt || "Done.", doubt ? "warn" : "");
}

function show(result) {
  const processed = $("processed");
  processed.hidden = !result.processed;
  if (result.processed) processed.src = result.processed;
  setBars(result.probabilities);
  const doubt = result.unusual ? "This looks unlike any digit the model learned."
    : result.confidence < LOW_CONFIDENCE ? "Not sure: is it one digit, clearly drawn?" : null;
  showAnswer(result.digit, result, result.reason || "No digit found.", doubt);
}

function showReading(result) {
  $("processed").hidden = true;
  const doubt = result.confidence < LOW_CONFIDENCE
    ? "Not sure: are the digits apart and clearly drawn?" : null;
  showAnswer(result.lines.length ? result.text : null, result,
             result.reason || "No number found.", doubt);
}

// A sum as a person checks it: "3+4=7" where "=" was written, else "3+4 = 7"; a written
// answer gets a tick, or a cross and the right value.
function sumText(sum) {
  if (sum.value === null) return sum.read;
  if (sum.written !== null) return `${sum.read} ${sum.agrees ? "✓" : "✗ " + sum.value}`;
  return sum.read.endsWith("=") ? sum.read + sum.value : `${sum.read} = ${sum.value}`;
}

// The answer written on the canvas just after the sum's "=", as tall as its digits.
function writeAnswer(sum) {
  const ink = $("answer-ink");
  const last = sum && sum.characters[sum.characters.length - 1];
  if (pad.hidden || !last || last.char !== "=" || sum.value === null || sum.written !== null) {
    ink.hidden = true;
    return;
  }
  const scale = pad.clientWidth / pad.width;
  const tall = Math.max(...sum.characters.map((c) => c.box[3] - c.box[1]));
  const middle = (last.box[1] + last.box[3]) / 2;
  ink.textContent = sum.value;
  ink.style.fontSize = `${tall * scale}px`;
  ink.style.left = `${(last.box[2] + tall / 4) * scale}px`;
  ink.style.top = `${(middle - tall / 2) * scale}px`;
  ink.hidden = false;
}

function showSum(result) {
  $("processed").hidden = true;
  const sums = result.sums;
  const problem = sums.find((s) => s.error);
  const doubt = problem ? `Cannot work it out: ${problem.error}.`
    : result.confidence < LOW_CONFIDENCE ? "Not sure: are the symbols apart and clearly drawn?"
    : null;
  showAnswer(sums.length ? sums.map(sumText).join("   ") : null, result,
             result.reason || "No sum found.", doubt);
  writeAnswer(sums[sums.length - 1]);
}

// The table read from a page: a grid of editable cells (a merged cell spans its rows and
// columns), printed cells shown as they are, the cells to check marked; a cell corrected is
// sent to the server where it keeps corrections.
function showTable(result) {
  $("processed").hidden = true;
  const grid = $("grid");
  grid.replaceChildren();
  const rows = Array.from({ length: result.rows }, () => grid.insertRow());
  for (const cell of result.cells) {
    const td = document.createElement("td");
    td.rowSpan = cell.rows;
    td.colSpan = cell.columns;
    td.className = cell.status;
    const input = document.createElement("input");
    input.value = cell.text;
    input.dataset.read = cell.text;
    input.setAttribute("aria-label", `row ${cell.row + 1}, column ${cell.column + 1}` +
                       (cell.status === "unsure" || cell.status === "no_match" ? ", to check" : ""));
    input.title = cell.status === "empty" || cell.status === "print" ? cell.status
      : `${cell.status}: ${(100 * cell.confidence).toFixed(0)}% sure`;
    if (cell.id) input.addEventListener("change", () => correctCell(cell.id, input));
    td.appendChild(input);
    rows[cell.row].appendChild(td);
  }
  $("table-view").hidden = false;
  $("table-status").textContent = "";
  const check = result.review;
  showAnswer(result.cells.length ? `${result.rows} × ${result.columns}` : null, result,
             result.reason || "No table found.",
             check ? `${check} cell${check > 1 ? "s" : ""} to check (marked).` : null);
}

function correctCell(id, input) {
  const label = input.value.trim();
  if (!label || label === input.dataset.read) return;
  sendCorrection({ id, label })
    .then((body) => {
      input.parentElement.className = "corrected";
      $("table-status").textContent = `Kept ${label} (correction ${body.correction}).`;
    })
    .catch((error) => { $("table-status").textContent = `Not saved: ${error.message}`; });
}

function tableCsv() {
  const quote = (text) => (/[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text);
  const lines = [...$("grid").rows].map((row) => {
    const cells = [];
    for (const td of row.cells) cells.push(quote(td.querySelector("input").value));
    return cells.join(",");
  });
  const link = document.createElement("a");
  link.href = URL.createObjectURL(new Blob([lines.join("\n") + "\n"], { type: "text/csv" }));
  link.download = "table.csv";
  link.click();
}

function setMode(next) {
  mode = next;
  document.body.classList.toggle("number-mode", mode !== "digit");
  document.body.classList.toggle("table-mode", mode === "table");
  $("header-choice").hidden = mode !== "table";
  for (const m of MODES) $(`mode-${m}`).setAttribute("aria-pressed", String(mode === m));
  pad.width = mode === "digit" ? 280 : 840; // resizing a canvas clears it
  clearAll();
}

function showError(message) {
  offerCorrection(null);
  $("answer-ink").hidden = true;
  $("digit").textContent = "!";
  $("digit").classList.add("none");
  $("confidence").textContent = "";
  setBars(null);
  setStatus(`Error: ${message}`, "error");
}

function reset() {
  offerCorrection(null);
  $("table-view").hidden = true;
  $("answer-ink").hidden = true;
  $("digit").textContent = "?";
  $("digit").classList.add("none");
  $("confidence").textContent = "";
  $("processed").hidden = true;
  setBars(null);
  setStatus({ digit: "Draw a digit to start.", number: "Write a number to start.",
              sum: "Write a sum, such as 12+7=, to start.",
              table: "Upload, drop or paste a photo of a table." }[mode], "");
}

function clearAll() {
  strokes.length = 0;
  current = null;
  redraw();
  showCanvas();
  reset();
}

function undo() {
  strokes.pop();
  redraw();
  sendCanvas();
}

let lastFile = null; // the image uploaded last, read again when the header choice changes

function upload(file) {
  if (!file) return;
  lastFile = file;
  strokes.length = 0;
  redraw();
  if (uploaded.src) URL.revokeObjectURL(uploaded.src);
  uploaded.src = URL.createObjectURL(file);
  uploaded.hidden = false;
  pad.hidden = true;
  send(file);
}

$("clear").addEventListener("click", clearAll);
for (const m of MODES) $(`mode-${m}`).addEventListener("click", () => setMode(m));
$("undo").addEventListener("click", undo);
$("csv").addEventListener("click", tableCsv);
$("table-header").addEventListener("change", () => {
  if (mode === "table" && lastFile && !uploaded.hidden) send(lastFile);
});
$("file").addEventListener("change", (event) => upload(event.target.files[0]));

const drop = $("drop");
drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("dragging"); });
drop.addEventListener("dragleave", () => drop.classList.remove("dragging"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("dragging");
  upload(event.dataTransfer.files[0]);
});
document.addEventListener("paste", (event) => {
  const item = [...event.clipboardData.items].find((i) => i.type.startsWith("image/"));
  if (item) upload(item.getAsFile());
});
document.addEventListener("keydown", (event) => {
  if (event.target.closest("input")) return; // typing a correction or a name, not drawing
  if (event.key === "Escape") clearAll();
  if ((event.ctrlKey || event.metaKey) && event.key === "z") { event.preventDefault(); undo(); }
});

buildBars();
buildCorrection();
reset();
