// <cc2d-tracing>: a radiograph with editable landmarks, for any page (cc2d/tracing).
//
//   import "cc2d/tracing";
//   const view = document.querySelector("cc2d-tracing");
//   view.image = await createImageBitmap(file);
//   view.landmarks = (await cc2d.detect(file)).landmarks;
//   view.addEventListener("landmarkchange", (e) => console.log(e.detail.landmarks));
//
// Pointer (mouse, pen, touch): drag a marker to move it, drag the background to pan, wheel or
// pinch-free +/- keys to zoom. Keyboard (the element is focusable, so Tab reaches it): ] / [
// select the next / previous landmark (brought into view), arrows nudge it 1 px (Shift: 10 px)
// or, with none selected, pan the view, Ctrl+Z / Ctrl+Shift+Z (or Ctrl+Y) undo / redo, R resets
// the selected point to the detector's, Escape deselects, + / - zoom, 0 fits the image. The
// selected point (name, position, edited, doubtful) is announced in a live region for screen
// readers. A click on the image (not a marker, not a pan) fires `imageclick` with
// its image coordinates. Confidence shows as marker shape and text, not colour alone: a circle is
// sure (≥ 0.6), a diamond doubtful, and an edited point gets a square and "edited".

const SURE = 0.6;
const SVG = "http://www.w3.org/2000/svg";

/**
 * @typedef {{ name: string, x: number, y: number, confidence?: number }} InputLandmark
 * @typedef {{ name: string, x: number, y: number, confidence: number | null, edited: boolean, detected: { x: number, y: number } }} TracedLandmark
 * @typedef {{ brightness?: number, contrast?: number, invert?: boolean }} Adjust
 */

const STYLE = `
:host { display: block; position: relative; overflow: hidden; background: #111; touch-action: none; user-select: none; outline: none; min-height: 200px; }
:host(:focus-visible) { box-shadow: inset 0 0 0 3px #60a5fa; }
.stage { position: absolute; left: 0; top: 0; transform-origin: 0 0; }
canvas, svg { position: absolute; left: 0; top: 0; }
svg { overflow: visible; }
.marker { cursor: grab; fill: rgba(34, 211, 238, 0.25); stroke: #22d3ee; }
.marker.doubtful { fill: rgba(245, 158, 11, 0.3); stroke: #f59e0b; }
.marker.edited { fill: rgba(163, 230, 53, 0.3); stroke: #a3e635; }
.marker.selected { stroke: #fff; }
text { fill: #fff; paint-order: stroke; stroke: #000; pointer-events: none; font-family: system-ui, sans-serif; }
.announcer { position: absolute; width: 1px; height: 1px; overflow: hidden; clip-path: inset(50%); white-space: nowrap; }
`;

export class Cc2dTracing extends HTMLElement {
  /** @type {TracedLandmark[]} */
  #points = [];
  /** @type {Array<Array<{ x: number, y: number, edited: boolean }>>} */
  #undo = [];
  /** @type {Array<Array<{ x: number, y: number, edited: boolean }>>} */
  #redo = [];
  #selected = -1;
  #size = { width: 0, height: 0 };
  #view = { scale: 1, x: 0, y: 0 };
  /** @type {Adjust} */
  #adjust = { brightness: 1, contrast: 1, invert: false };
  /** @type {null | { kind: "point", index: number, before: Array<{ x: number, y: number, edited: boolean }>, moved: boolean } | { kind: "pan", x: number, y: number, viewX: number, viewY: number }} */
  #drag = null;
  #stage;
  #canvas;
  #svg;
  #announcer;

  constructor() {
    super();
    const root = this.attachShadow({ mode: "open" });
    const style = document.createElement("style");
    style.textContent = STYLE;
    this.#stage = document.createElement("div");
    this.#stage.className = "stage";
    this.#canvas = document.createElement("canvas");
    this.#canvas.setAttribute("part", "image");
    this.#svg = document.createElementNS(SVG, "svg");
    this.#svg.setAttribute("part", "landmarks");
    this.#stage.append(this.#canvas, this.#svg);
    // What a screen reader says after a key: the selected point and where it is now.
    this.#announcer = document.createElement("div");
    this.#announcer.className = "announcer";
    this.#announcer.setAttribute("role", "status");
    this.#announcer.setAttribute("part", "announcer");
    root.append(style, this.#stage, this.#announcer);
    this.addEventListener("pointerdown", (e) => this.#pointerDown(e));
    this.addEventListener("pointermove", (e) => this.#pointerMove(e));
    this.addEventListener("pointerup", (e) => this.#pointerUp(e));
    this.addEventListener("pointercancel", (e) => this.#pointerUp(e));
    this.addEventListener("wheel", (e) => this.#wheel(e), { passive: false });
    this.addEventListener("keydown", (e) => this.#key(e));
    new ResizeObserver(() => this.#place()).observe(this);
  }

  connectedCallback() {
    if (!this.hasAttribute("tabindex")) this.tabIndex = 0;
    if (!this.hasAttribute("role")) this.setAttribute("role", "application");
    if (!this.hasAttribute("aria-label")) this.setAttribute("aria-label", "Radiograph with editable landmarks: ] and [ select a landmark, arrow keys move it");
  }

  /** The radiograph: anything a canvas can draw, or ImageData. Fits it in view. */
  set image(source) {
    const width = source?.width ?? 0;
    const height = source?.height ?? 0;
    if (!(width > 0 && height > 0)) throw new TypeError("<cc2d-tracing>: image must have a width and height (ImageBitmap, canvas, <img>, ImageData)");
    this.#size = { width, height };
    this.#canvas.width = width;
    this.#canvas.height = height;
    const g = /** @type {CanvasRenderingContext2D} */ (this.#canvas.getContext("2d"));
    if (typeof ImageData !== "undefined" && source instanceof ImageData) g.putImageData(source, 0, 0);
    else g.drawImage(/** @type {CanvasImageSource} */ (source), 0, 0);
    this.#svg.setAttribute("width", String(width));
    this.#svg.setAttribute("height", String(height));
    this.#svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    this.fit();
  }

  /** The detector's landmarks (`detect(…).landmarks`): replaces the points, clears edits and history. */
  set landmarks(list) {
    if (!Array.isArray(list)) throw new TypeError("<cc2d-tracing>: landmarks must be an array of { name, x, y }");
    this.#points = list.map((l, i) => {
      if (!Number.isFinite(l?.x) || !Number.isFinite(l?.y)) throw new RangeError(`<cc2d-tracing>: landmark ${i + 1} (${l?.name}) is not a finite point`);
      const confidence = Number.isFinite(l.confidence) ? /** @type {number} */ (l.confidence) : null;
      return { name: String(l.name ?? `L${i + 1}`), x: l.x, y: l.y, confidence, edited: Boolean(l.edited), detected: { x: l.detected?.x ?? l.x, y: l.detected?.y ?? l.y } };
    });
    this.#undo = [];
    this.#redo = [];
    this.#selected = -1;
    this.#render();
  }

  /** The points now: names, positions, confidence, whether edited, and the detector's position. */
  get landmarks() {
    return this.#points.map((p) => ({ ...p, detected: { ...p.detected } }));
  }

  get selected() {
    return this.#selected;
  }

  get canUndo() {
    return this.#undo.length > 0;
  }

  get canRedo() {
    return this.#redo.length > 0;
  }

  /** Display adjustments, applied to the image only (the detector's input is untouched). */
  set adjust(value) {
    this.#adjust = { ...this.#adjust, ...value };
    const { brightness = 1, contrast = 1, invert = false } = this.#adjust;
    this.#canvas.style.filter = `brightness(${brightness}) contrast(${contrast}) invert(${invert ? 1 : 0})`;
  }

  get adjust() {
    return { ...this.#adjust };
  }

  /** Selects landmark `index` (−1: none). */
  select(index) {
    this.#selected = index >= 0 && index < this.#points.length ? index : -1;
    this.#reveal(this.#selected);
    this.#render();
    this.#announce();
    this.dispatchEvent(new CustomEvent("landmarkselect", { detail: { index: this.#selected } }));
  }

  /** Moves landmark `index` to (x, y) as one undoable edit. */
  move(index, x, y) {
    const p = this.#points[index];
    if (!p || !Number.isFinite(x) || !Number.isFinite(y)) throw new RangeError(`<cc2d-tracing>: no landmark ${index} or not a finite point`);
    this.#record();
    this.#moveTo(index, x, y);
    this.#changed(index, "move");
  }

  undo() {
    this.#step(this.#undo, this.#redo, "undo");
  }

  redo() {
    this.#step(this.#redo, this.#undo, "redo");
  }

  /** Puts landmark `index` (default: all) back where the detector placed it. */
  reset(index) {
    if (!this.#points.length) return;
    this.#record();
    for (const [i, p] of this.#points.entries()) {
      if (index === undefined || i === index) Object.assign(p, { x: p.detected.x, y: p.detected.y, edited: false });
    }
    this.#changed(index ?? -1, "reset");
  }

  /** Zooms so the whole image is in view. */
  fit() {
    const { width, height } = this.#size;
    const box = this.getBoundingClientRect();
    if (!width || !box.width) return;
    const scale = Math.min(box.width / width, (box.height || box.width * (height / width)) / height);
    this.#view = { scale, x: (box.width - width * scale) / 2, y: Math.max(0, ((box.height || height * scale) - height * scale) / 2) };
    this.#place();
  }

  /** Zooms by `factor` about a point of the element (default: its centre). */
  zoom(factor, at) {
    const box = this.getBoundingClientRect();
    const [cx, cy] = at ?? [box.width / 2, box.height / 2];
    const scale = Math.min(64, Math.max(0.02, this.#view.scale * factor));
    const k = scale / this.#view.scale;
    this.#view = { scale, x: cx - (cx - this.#view.x) * k, y: cy - (cy - this.#view.y) * k };
    this.#place();
  }

  /** Image pixels of a client (viewport) position. */
  toImage(clientX, clientY) {
    const box = this.getBoundingClientRect();
    return { x: (clientX - box.left - this.#view.x) / this.#view.scale, y: (clientY - box.top - this.#view.y) / this.#view.scale };
  }

  /** The client (viewport) position of image pixel (x, y). */
  toClient(x, y) {
    const box = this.getBoundingClientRect();
    return { x: box.left + this.#view.x + x * this.#view.scale, y: box.top + this.#view.y + y * this.#view.scale };
  }

  // ---- internals ----

  #snapshot() {
    return this.#points.map(({ x, y, edited }) => ({ x, y, edited }));
  }

  #record() {
    this.#undo.push(this.#snapshot());
    this.#redo = [];
  }

  /** @param {Array<Array<{ x: number, y: number, edited: boolean }>>} from @param {Array<Array<{ x: number, y: number, edited: boolean }>>} to @param {string} reason */
  #step(from, to, reason) {
    const state = from.pop();
    if (!state) return;
    to.push(this.#snapshot());
    state.forEach((s, i) => Object.assign(this.#points[i], s));
    this.#changed(-1, reason);
  }

  #moveTo(index, x, y) {
    const p = this.#points[index];
    p.x = Math.min(this.#size.width - 1, Math.max(0, x));
    p.y = Math.min(this.#size.height - 1, Math.max(0, y));
    p.edited = true;
  }

  #changed(index, reason) {
    this.#render();
    this.#announce();
    this.dispatchEvent(new CustomEvent("landmarkchange", { detail: { index, reason, landmarks: this.landmarks } }));
  }

  /** Pans so landmark `index` is on screen (keyboard selection while zoomed in). */
  #reveal(index) {
    const p = this.#points[index];
    const box = this.getBoundingClientRect();
    if (!p || !box.width) return;
    const sx = this.#view.x + p.x * this.#view.scale;
    const sy = this.#view.y + p.y * this.#view.scale;
    const margin = 24;
    if (sx >= margin && sx <= box.width - margin && sy >= margin && sy <= box.height - margin) return;
    this.#view = { ...this.#view, x: box.width / 2 - p.x * this.#view.scale, y: box.height / 2 - p.y * this.#view.scale };
    this.#place();
  }

  #announce() {
    const p = this.#points[this.#selected];
    if (!p) {
      this.#announcer.textContent = this.#points.length ? "No landmark selected" : "";
      return;
    }
    const doubtful = !p.edited && p.confidence !== null && p.confidence < SURE;
    const state = p.edited ? ", edited" : doubtful ? `, doubtful (confidence ${p.confidence?.toFixed(2)})` : "";
    this.#announcer.textContent = `${this.#selected + 1} of ${this.#points.length}: ${p.name}, x ${p.x.toFixed(1)}, y ${p.y.toFixed(1)}${state}`;
  }

  #place() {
    const { scale, x, y } = this.#view;
    this.#stage.style.transform = `translate(${x}px, ${y}px) scale(${scale})`;
    this.#render();
  }

  #render() {
    const r = 7 / this.#view.scale; // markers keep their size on screen at any zoom
    const svg = this.#svg;
    svg.replaceChildren();
    this.#points.forEach((p, i) => {
      const doubtful = p.confidence !== null && p.confidence < SURE;
      const kind = p.edited ? "edited" : doubtful ? "doubtful" : "sure";
      const shape = document.createElementNS(SVG, kind === "sure" ? "circle" : "polygon");
      if (kind === "sure") {
        shape.setAttribute("cx", String(p.x));
        shape.setAttribute("cy", String(p.y));
        shape.setAttribute("r", String(r));
      } else {
        const corners = kind === "doubtful" ? [[0, -1.3], [1.3, 0], [0, 1.3], [-1.3, 0]] : [[-1, -1], [1, -1], [1, 1], [-1, 1]];
        shape.setAttribute("points", corners.map(([dx, dy]) => `${p.x + dx * r},${p.y + dy * r}`).join(" "));
      }
      shape.setAttribute("class", `marker ${kind}${i === this.#selected ? " selected" : ""}`);
      shape.setAttribute("stroke-width", String((i === this.#selected ? 3 : 1.5) / this.#view.scale));
      shape.dataset.index = String(i);
      const label = document.createElementNS(SVG, "text");
      label.setAttribute("x", String(p.x + r * 1.6));
      label.setAttribute("y", String(p.y - r * 1.2));
      label.setAttribute("font-size", String(13 / this.#view.scale));
      label.setAttribute("stroke-width", String(3 / this.#view.scale));
      const note = p.edited ? " (edited)" : doubtful ? ` (? ${/** @type {number} */ (p.confidence).toFixed(2)})` : "";
      label.textContent = `${i + 1} ${p.name}${note}`;
      svg.append(shape, label);
    });
  }

  /** @param {PointerEvent} e */
  #pointerDown(e) {
    if (e.button !== 0) return;
    this.focus({ preventScroll: true });
    const target = /** @type {Element} */ (e.composedPath()[0]);
    const index = target instanceof SVGElement && target.dataset?.index !== undefined ? Number(target.dataset.index) : -1;
    this.setPointerCapture(e.pointerId);
    if (index >= 0) {
      this.select(index);
      this.#drag = { kind: "point", index, before: this.#snapshot(), moved: false };
    } else {
      this.#drag = { kind: "pan", x: e.clientX, y: e.clientY, viewX: this.#view.x, viewY: this.#view.y };
    }
    e.preventDefault();
  }

  /** @param {PointerEvent} e */
  #pointerMove(e) {
    const drag = this.#drag;
    if (!drag) return;
    if (drag.kind === "pan") {
      this.#view = { ...this.#view, x: drag.viewX + e.clientX - drag.x, y: drag.viewY + e.clientY - drag.y };
      this.#place();
    } else {
      const q = this.toImage(e.clientX, e.clientY);
      this.#moveTo(drag.index, q.x, q.y);
      drag.moved = true;
      this.#render();
      this.dispatchEvent(new CustomEvent("landmarkchange", { detail: { index: drag.index, reason: "drag", landmarks: this.landmarks } }));
    }
  }

  /** @param {PointerEvent} e */
  #pointerUp(e) {
    const drag = this.#drag;
    this.#drag = null;
    if (this.hasPointerCapture(e.pointerId)) this.releasePointerCapture(e.pointerId);
    if (drag?.kind === "point" && drag.moved) {
      this.#undo.push(drag.before);
      this.#redo = [];
      this.#changed(drag.index, "drop");
    } else if (drag?.kind === "pan" && Math.hypot(e.clientX - drag.x, e.clientY - drag.y) < 4) {
      // A click on the image, not a pan: say where (e.g. for a ruler).
      const q = this.toImage(e.clientX, e.clientY);
      this.dispatchEvent(new CustomEvent("imageclick", { detail: { x: q.x, y: q.y } }));
    }
  }

  /** @param {WheelEvent} e */
  #wheel(e) {
    e.preventDefault();
    const box = this.getBoundingClientRect();
    this.zoom(Math.exp(-e.deltaY * 0.0015), [e.clientX - box.left, e.clientY - box.top]);
  }

  /** @param {KeyboardEvent} e */
  #key(e) {
    const n = this.#points.length;
    const ctrl = e.ctrlKey || e.metaKey;
    const arrows = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    let handled = true;
    if (ctrl && e.key.toLowerCase() === "z") e.shiftKey ? this.redo() : this.undo();
    else if (ctrl && e.key.toLowerCase() === "y") this.redo();
    else if (e.key === "]" || e.key === "PageDown") n && this.select((this.#selected + 1) % n);
    else if (e.key === "[" || e.key === "PageUp") n && this.select(this.#selected < 0 ? n - 1 : this.#selected - 1);
    else if (e.key in arrows && this.#selected >= 0) {
      const [dx, dy] = arrows[/** @type {keyof typeof arrows} */ (e.key)];
      const step = e.shiftKey ? 10 : 1;
      const p = this.#points[this.#selected];
      this.move(this.#selected, p.x + dx * step, p.y + dy * step);
    } else if (e.key in arrows) {
      // Nothing selected: the arrows pan the view (Shift: further).
      const [dx, dy] = arrows[/** @type {keyof typeof arrows} */ (e.key)];
      const step = e.shiftKey ? 200 : 40;
      this.#view = { ...this.#view, x: this.#view.x - dx * step, y: this.#view.y - dy * step };
      this.#place();
    } else if ((e.key === "r" || e.key === "R") && !ctrl && this.#selected >= 0) this.reset(this.#selected);
    else if (e.key === "Escape") this.select(-1);
    else if (e.key === "+" || e.key === "=") this.zoom(1.25);
    else if (e.key === "-") this.zoom(0.8);
    else if (e.key === "0") this.fit();
    else handled = false;
    if (handled) e.preventDefault();
  }
}

if (typeof customElements !== "undefined" && !customElements.get("cc2d-tracing")) customElements.define("cc2d-tracing", Cc2dTracing);
