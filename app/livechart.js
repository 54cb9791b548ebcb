// The Train page's live charts on canvases (app/livechart.py says why); no libraries.
const FONT = '"Source Sans Pro", "Source Sans 3", sans-serif';

function niceTicks(lo, hi, count) {
  if (!(hi > lo)) { hi = lo + 1; }
  const raw = (hi - lo) / count, power = Math.pow(10, Math.floor(Math.log10(raw)));
  const step = [1, 2, 2.5, 5, 10].map(m => m * power).find(s => s >= raw);
  const ticks = [];
  for (let t = Math.ceil(lo / step) * step; t <= hi + step * 1e-9; t += step) ticks.push(+t.toPrecision(12));
  return ticks;
}

function label(v, percent) {
  if (percent) return `${+(v * 100).toPrecision(3)}%`;
  const a = Math.abs(v);
  if (a >= 1e4) return (v / 1000).toFixed(a >= 1e5 ? 0 : 1).replace(/\.0$/, "") + "k";
  return +v.toPrecision(3) + "";
}

function draw(canvas, chart, hoverX) {
  const ratio = window.devicePixelRatio || 1;
  const width = canvas.parentElement.clientWidth || 600, height = chart.height;
  if (canvas.width !== Math.round(width * ratio) || canvas.height !== Math.round(height * ratio)) {
    canvas.width = Math.round(width * ratio); canvas.height = Math.round(height * ratio);
    canvas.style.width = width + "px"; canvas.style.height = height + "px";
  }
  const g = canvas.getContext("2d");
  g.setTransform(ratio, 0, 0, ratio, 0, 0);
  g.clearRect(0, 0, width, height);
  g.fillStyle = "#31333f"; g.font = `18px ${FONT}`; g.textBaseline = "top"; g.textAlign = "left";
  g.fillText(chart.title, 4, 2);
  let top = 40;
  if (chart.legend) {  // at the right of the title line, as the plotly figures have it; below it if too long
    g.font = `14px ${FONT}`;
    const room = width - 6 - chart.series.reduce((w, s) => w + g.measureText(s.name).width + 46, 0);
    const titleEnd = 14 + (g.font = `18px ${FONT}`, g.measureText(chart.title).width);
    const row = room > titleEnd ? 6 : 28;
    if (row > 6) top += 20;
    g.font = `14px ${FONT}`; let x = width - 6;
    for (const s of [...chart.series].reverse()) {
      const w = g.measureText(s.name).width; x -= w;
      g.fillStyle = "#31333f"; g.fillText(s.name, x, row);
      g.strokeStyle = s.color; g.lineWidth = 2.5;
      g.beginPath(); g.moveTo(x - 30, row + 8); g.lineTo(x - 6, row + 8); g.stroke();
      x -= 46;
    }
  }
  const left = 62, right = width - 12, bottom = height - 44;
  const xs = chart.x, ys = chart.series.flatMap(s => s.y.filter(v => v !== null));
  if (!xs.length || !ys.length) {
    g.fillStyle = "grey"; g.font = `16px ${FONT}`; g.textAlign = "center"; g.textBaseline = "middle";
    g.fillText(chart.waiting, (left + right) / 2, (top + bottom) / 2);
    return;
  }
  const levels = [...ys, ...chart.hlines.map(h => h.y)];
  let [y0, y1] = chart.y_range || [chart.bars ? 0 : Math.min(...levels), Math.max(...levels)];
  if (!chart.y_range) { const pad = (y1 - y0) * 0.05 || 0.5; y0 -= chart.bars ? 0 : pad; y1 += pad; }
  // Bars stand on categories (their index is x); lines on steps, from 0 to the last.
  const pad = chart.series.some(s => s.dots) ? 1.04 : 1;  // room for the last dot
  const x0 = chart.bars ? -0.5 : 0, x1 = chart.bars ? xs.length - 0.5 : Math.max(xs[xs.length - 1], 1) * pad;
  const px = x => left + (x - x0) / (x1 - x0) * (right - left);
  const py = y => bottom - (y - y0) / (y1 - y0) * (bottom - top);
  g.font = `12px ${FONT}`; g.fillStyle = "#808495"; g.lineWidth = 1;
  g.textAlign = "right"; g.textBaseline = "middle";
  for (const t of niceTicks(y0, y1, 4)) {
    if (t < y0 || t > y1) continue;
    g.strokeStyle = "#e6e9ef"; g.beginPath(); g.moveTo(left, py(t)); g.lineTo(right, py(t)); g.stroke();
    g.fillText(label(t, chart.y_percent), left - 6, py(t));
  }
  g.textAlign = "center"; g.textBaseline = "top";
  if (chart.bars) xs.forEach((c, i) => g.fillText(c, px(i), bottom + 6));
  else for (const t of niceTicks(x0, x1, 5)) g.fillText(label(t), px(t), bottom + 6);
  g.font = `14px ${FONT}`; g.fillText(chart.x_title, (left + right) / 2, bottom + 24);
  g.save(); g.translate(14, (top + bottom) / 2); g.rotate(-Math.PI / 2); g.fillText(chart.y_title, 0, -8); g.restore();
  g.save(); g.beginPath(); g.rect(left, top, right - left, bottom - top); g.clip();
  for (const h of chart.hlines) {
    g.strokeStyle = h.color; g.lineWidth = 2; g.setLineDash([6, 4]);
    g.beginPath(); g.moveTo(left, py(h.y)); g.lineTo(right, py(h.y)); g.stroke();
  }
  g.setLineDash([]); g.lineJoin = "round";
  if (chart.bars) {
    const s = chart.series[0], w = (right - left) / xs.length * 0.8;
    s.y.forEach((y, i) => {
      if (y === null) return;
      g.fillStyle = (s.colors && s.colors[i]) || s.color;
      g.fillRect(px(i) - w / 2, py(y), w, py(Math.max(y0, 0)) - py(y));
    });
  }
  for (const s of chart.bars ? [] : chart.series) {
    g.strokeStyle = s.color; g.lineWidth = 2.5; g.beginPath(); let pen = false;
    s.y.forEach((y, i) => {
      if (y === null) { pen = false; return; }
      if (pen) g.lineTo(px(xs[i]), py(y)); else { g.moveTo(px(xs[i]), py(y)); pen = true; }
    });
    g.stroke();
    if (s.dots) {
      g.fillStyle = s.color;
      s.y.forEach((y, i) => { if (y !== null) { g.beginPath(); g.arc(px(xs[i]), py(y), 4, 0, 2 * Math.PI); g.fill(); } });
    }
  }
  g.restore();
  g.font = `12px ${FONT}`; g.textBaseline = "top"; g.textAlign = "left";
  for (const m of chart.markers) {
    g.strokeStyle = m.color; g.lineWidth = 1.5; g.setLineDash([2, 3]);
    g.beginPath(); g.moveTo(px(m.x), top); g.lineTo(px(m.x), bottom); g.stroke(); g.setLineDash([]);
    g.fillStyle = "rgba(255,255,255,0.7)"; g.fillRect(px(m.x) + 2, top, g.measureText(m.text).width + 4, 15);
    g.fillStyle = m.color; g.fillText(m.text, px(m.x) + 4, top + 1);
  }
  for (const h of chart.hlines) {
    g.fillStyle = h.color; g.textAlign = "right"; g.textBaseline = "bottom"; g.font = `13px ${FONT}`;
    g.fillText(h.text, right - 2, py(h.y) - 2);
  }
  if (hoverX !== null && hoverX >= left && hoverX <= right) {  // the values at the nearest step
    const want = x0 + (hoverX - left) / (right - left) * (x1 - x0);
    const at = j => chart.bars ? j : xs[j];
    let i = 0; for (let j = 1; j < xs.length; j++) if (Math.abs(at(j) - want) < Math.abs(at(i) - want)) i = j;
    g.strokeStyle = "#999"; g.lineWidth = 1; g.beginPath(); g.moveTo(px(at(i)), top); g.lineTo(px(at(i)), bottom); g.stroke();
    const value = v => v === null ? "–" : label(v, chart.y_percent);
    const lines = [`${chart.x_title} ${xs[i].toLocaleString()}`, ...chart.series.map(s => `${s.name}: ${value(s.y[i])}`)];
    g.font = `13px ${FONT}`; const w = Math.max(...lines.map(l => g.measureText(l).width)) + 12;
    const bx = px(at(i)) + w + 14 > right ? px(at(i)) - w - 8 : px(at(i)) + 8;
    g.fillStyle = "rgba(255,255,255,0.92)"; g.strokeStyle = "#ccc"; g.fillRect(bx, top + 4, w, lines.length * 17 + 8); g.strokeRect(bx, top + 4, w, lines.length * 17 + 8);
    g.textAlign = "left"; g.textBaseline = "top"; g.fillStyle = "#31333f";
    lines.forEach((l, k) => g.fillText(l, bx + 6, top + 9 + k * 17));
  }
}

export default function (component) {
  const { parentElement, data } = component;
  const text = typeof data === "string" ? data : new TextDecoder().decode(data);
  const charts = JSON.parse(text);
  let root = parentElement.querySelector(".gan-live-charts");
  if (!root) {
    root = document.createElement("div"); root.className = "gan-live-charts"; parentElement.appendChild(root);
  }
  while (root.children.length > charts.length) root.lastChild.remove();
  charts.forEach((chart, k) => {
    let box = root.children[k];
    if (!box) {
      box = document.createElement("div"); box.className = "gan-live-chart";
      const canvas = document.createElement("canvas"); box.appendChild(canvas); root.appendChild(box);
      canvas.addEventListener("mousemove", e => { canvas._hover = e.offsetX; draw(canvas, canvas._chart, canvas._hover); });
      canvas.addEventListener("mouseleave", () => { canvas._hover = null; draw(canvas, canvas._chart, null); });
    }
    const canvas = box.firstChild;
    canvas._chart = chart;
    draw(canvas, chart, canvas._hover ?? null);
    // What a canvas shows, said where a test (or a screen reader's label) can read it.
    box.dataset.title = chart.title;
    box.dataset.points = chart.x.length;
    box.dataset.lastStep = chart.x.length ? chart.x[chart.x.length - 1] : "";
    box.dataset.markers = chart.markers.map(m => m.text).join(" | ");
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", `${chart.title}: ${chart.series.map(s => s.name).join(", ")} over ${chart.x.length} points`);
  });
}
