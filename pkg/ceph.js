// cc2d/ceph: cephalometric analysis of the 19 ISBI 2015 landmarks, in plain JS (no wasm).
//
// Every measurement is a pure function of the points, so an app recomputes the table on
// each drag. Angles are in degrees; lengths in mm when the pixel spacing is known, else in
// pixels (and the result says so). Points are image pixels (x right, y down); a profile
// facing left is mirrored first, so the signs below hold either way.

/** The ISBI 2015 landmarks in file order, with the short names this module uses. */
export const LANDMARKS = /** @type {const} */ ([
  ["S", "sella"],
  ["N", "nasion"],
  ["Or", "orbitale"],
  ["Po", "porion"],
  ["A", "subspinale"],
  ["B", "supramentale"],
  ["Pog", "pogonion"],
  ["Me", "menton"],
  ["Gn", "gnathion"],
  ["Go", "gonion"],
  ["LIT", "lower incisal incision"],
  ["UIT", "upper incisal incision"],
  ["UL", "upper lip"],
  ["LL", "lower lip"],
  ["Sn", "subnasale"],
  ["SPog", "soft tissue pogonion"],
  ["PNS", "posterior nasal spine"],
  ["ANS", "anterior nasal spine"],
  ["Ar", "articulare"],
]);

/**
 * @typedef {{ x: number, y: number }} Point
 * @typedef {Record<string, Point>} Points  Keyed by short name (`S`, `N`, …, see LANDMARKS).
 * @typedef {{ mean: number, sd: number } | { min: number, max: number }} Norm
 * @typedef {{ type: number, label: string }} IsbiClass  The ISBI 2015 challenge's anatomical type (1 = normal).
 * @typedef {{
 *   id: string, name: string, group: "isbi" | "steiner" | "bjork" | "downs",
 *   value: number, unit: "°" | "mm" | "px" | "ratio",
 *   norm: Norm | null, reading: string, uses: string[], isbiClass?: IsbiClass,
 *   withinNorm: boolean | null,
 * }} Measurement  `withinNorm`: the ISBI type is normal, or the value lies within the norm
 *   (mean ± SD, or the range); null where there is no norm.
 * @typedef {{ name: string, needs: string }} Unsupported
 * @typedef {{
 *   measurements: Measurement[], unsupported: Unsupported[],
 *   calibrated: boolean, spacingMm: number | null, facing: "right" | "left",
 * }} Analysis
 */

/**
 * The points by short name, from what the package returns (`detect`'s landmarks: objects with
 * `name`, `x`, `y`, matched by name), or from 19 points in ISBI order (`[x, y]` pairs or
 * `{x, y}` objects). Throws when a landmark is missing or not a finite number.
 * @param {{ landmarks: Array<{ name: string, x: number, y: number }> } | Array<{ name?: string, x: number, y: number } | [number, number]>} input
 * @returns {Points}
 */
export function pointsOf(input) {
  const list = Array.isArray(input) ? input : input?.landmarks;
  if (!Array.isArray(list)) throw new TypeError("cc2d/ceph: expected a detection ({ landmarks }) or an array of 19 points");
  const byName = new Map(list.filter((p) => p && typeof p === "object" && "name" in p).map((p) => [/** @type {any} */ (p).name.toLowerCase(), p]));
  /** @type {Points} */
  const out = {};
  LANDMARKS.forEach(([key, name], i) => {
    const p = byName.size ? byName.get(name) : list[i];
    if (p === undefined) throw new RangeError(`cc2d/ceph: no "${name}" landmark (the analysis needs the 19 ISBI 2015 landmarks)`);
    const [x, y] = Array.isArray(p) ? p : [p.x, p.y];
    if (!Number.isFinite(x) || !Number.isFinite(y)) throw new RangeError(`cc2d/ceph: landmark "${name}" is not a finite point`);
    out[key] = { x, y };
  });
  return out;
}

// ---- geometry (image pixels, y down, profile facing right) ----

/** @param {Point} a @param {Point} b */
const vec = (a, b) => ({ x: b.x - a.x, y: b.y - a.y });
/** @param {Point} u @param {Point} v */
const cross = (u, v) => u.x * v.y - u.y * v.x;
/** @param {Point} a @param {Point} b */
const dist = (a, b) => Math.hypot(b.x - a.x, b.y - a.y);
/** The unsigned angle between two vectors, in degrees. @param {Point} u @param {Point} v */
function angleBetween(u, v) {
  const c = (u.x * v.x + u.y * v.y) / (Math.hypot(u.x, u.y) * Math.hypot(v.x, v.y));
  return (Math.acos(Math.min(1, Math.max(-1, c))) * 180) / Math.PI;
}
/** The angle at `vertex` between the rays to `a` and `b`. @param {Point} a @param {Point} vertex @param {Point} b */
const angleAt = (a, vertex, b) => angleBetween(vec(vertex, a), vec(vertex, b));
/** The acute angle between two lines (each given by two points). @param {Point} a1 @param {Point} a2 @param {Point} b1 @param {Point} b2 */
function lineAngle(a1, a2, b1, b2) {
  const t = angleBetween(vec(a1, a2), vec(b1, b2));
  return Math.min(t, 180 - t);
}
/** Signed distance of `p` from the line a→b, positive in front (to the right, the face's side, when a→b points down). @param {Point} p @param {Point} a @param {Point} b */
function frontOfLine(p, a, b) {
  const d = vec(a, b);
  return -cross(d, vec(a, p)) / Math.hypot(d.x, d.y);
}

// ---- norms and readings ----

/** @param {number} mean @param {number} sd @returns {Norm} */
const meanSd = (mean, sd) => ({ mean, sd });
/** @param {number} min @param {number} max @returns {Norm} */
const range = (min, max) => ({ min, max });
/** @param {Norm} n */
const bounds = (n) => ("mean" in n ? [n.mean - n.sd, n.mean + n.sd] : [n.min, n.max]);

/** A one-line reading from the norm: [below, within, above]. @param {number} v @param {Norm} n @param {[string, string, string]} words */
function read(v, n, [below, within, above]) {
  const [lo, hi] = bounds(n);
  return v < lo ? below : v > hi ? above : within;
}

// The ISBI 2015 challenge's classification (Wang et al. 2016, Medical Image Analysis 31,
// "A benchmark for comparison of dental radiography analysis algorithms", Table 2):
// type 1 is normal. MW's published type 2 is "MW = 0 mm" (edge to edge), which a continuous
// measurement never equals: here 0 ≤ MW < 2 mm is edge to edge and MW < 0 crossbite.
/**
 * @typedef {{ normal: [number, number], labels: string[], classify: (v: number) => number }} IsbiRule
 * @type {Record<"ANB" | "SNB" | "SNA" | "ODI" | "APDI" | "FHI" | "FMA" | "MW", IsbiRule>}
 */
const ISBI_TYPES = {
  ANB: { normal: [3.2, 5.7], labels: ["Class I (normal)", "Class II", "Class III"], classify: (v) => (v > 5.7 ? 2 : v < 3.2 ? 3 : 1) },
  SNB: { normal: [74.6, 78.7], labels: ["normal mandible", "retrognathic mandible", "prognathic mandible"], classify: (v) => (v < 74.6 ? 2 : v > 78.7 ? 3 : 1) },
  SNA: { normal: [79.4, 83.2], labels: ["normal maxilla", "prognathic maxilla", "retrognathic maxilla"], classify: (v) => (v > 83.2 ? 2 : v < 79.4 ? 3 : 1) },
  ODI: { normal: [68.4, 80.5], labels: ["normal", "deep bite tendency", "open bite tendency"], classify: (v) => (v > 80.5 ? 2 : v < 68.4 ? 3 : 1) },
  APDI: { normal: [77.6, 85.2], labels: ["normal", "Class II tendency", "Class III tendency"], classify: (v) => (v < 77.6 ? 2 : v > 85.2 ? 3 : 1) },
  FHI: { normal: [0.65, 0.75], labels: ["normal", "short face tendency", "long face tendency"], classify: (v) => (v > 0.75 ? 2 : v < 0.65 ? 3 : 1) },
  FMA: { normal: [26.8, 31.4], labels: ["normal", "high angle tendency", "low angle tendency"], classify: (v) => (v > 31.4 ? 2 : v < 26.8 ? 3 : 1) },
  MW: { normal: [2, 4.5], labels: ["normal", "edge to edge", "anterior crossbite", "large overjet"], classify: (v) => (v > 4.5 ? 4 : v >= 2 ? 1 : v >= 0 ? 2 : 3) },
};

/**
 * The ISBI 2015 challenge's type of a measurement value (1 = normal; MW also has 4).
 * @param {keyof typeof ISBI_TYPES} id
 * @param {number} value
 * @returns {IsbiClass}
 */
export function isbiClass(id, value) {
  const rule = ISBI_TYPES[id];
  const type = rule.classify(value);
  return { type, label: rule.labels[type - 1] };
}

/** The eight measurements of the ISBI 2015 classification task, in the challenge's order. */
export const ISBI_MEASUREMENTS = /** @type {const} */ (["ANB", "SNB", "SNA", "ODI", "APDI", "FHI", "FMA", "MW"]);

/** What the 19 ISBI points cannot support, and what it would take. */
export const UNSUPPORTED = /** @type {const} */ ([
  { name: "Incisor inclinations (U1–NA, L1–NB, U1–SN, IMPA, interincisal angle)", needs: "the incisors' root apices (only the incisal tips are landmarks)" },
  { name: "Wits appraisal", needs: "the functional occlusal plane (molar cusps)" },
  { name: "Downs' cant of the occlusal plane", needs: "the occlusal plane (molar cusps)" },
  { name: "Ricketts' E-line (lips to the aesthetic line)", needs: "pronasale (the nose tip)" },
  { name: "Holdaway's ratio (L1–NB : Pog–NB)", needs: "the lower incisor's labial surface on NB" },
  { name: "Steiner's Pog–NB norm", needs: "nothing more, but it has no fixed norm: it is read against L1–NB (Holdaway), which needs the incisor's axis" },
]);

/**
 * Measures a tracing: the ISBI 2015 challenge's eight measurements with its classification,
 * Steiner (skeletal), Björk and Downs (skeletal), each with its norm and a one-line reading.
 * @param {Points | Parameters<typeof pointsOf>[0]} points  Short-name points (`pointsOf`), a detection, or 19 points in ISBI order.
 * @param {{ spacingMm?: number | null }} [options]  Millimetres per pixel (ISBI: 0.1). Without it, lengths are in pixels.
 * @returns {Analysis}
 */
export function analyse(points, options = {}) {
  const raw = isPoints(points) ? points : pointsOf(points);
  for (const [key, name] of LANDMARKS) {
    const p = raw[key];
    if (!p || !Number.isFinite(p.x) || !Number.isFinite(p.y)) throw new RangeError(`cc2d/ceph: landmark "${name}" (${key}) is missing or not finite`);
  }
  const spacing = options.spacingMm ?? null;
  if (spacing !== null && !(Number.isFinite(spacing) && spacing > 0)) throw new RangeError(`cc2d/ceph: spacingMm must be a positive number of mm per pixel, got ${spacing}`);
  // Mirror a profile that faces left (nasion left of sella), so "forward" is +x throughout.
  const facing = raw.N.x >= raw.S.x ? "right" : "left";
  /** @type {Points} */
  const p = Object.fromEntries(Object.entries(raw).map(([k, q]) => [k, facing === "right" ? q : { x: -q.x, y: q.y }]));
  const lengthUnit = spacing ? "mm" : "px";
  /** @param {number} px */
  const len = (px) => (spacing ? px * spacing : px);
  const { S, N, Or, Po, A, B, Pog, Me, Gn, Go, LIT, UIT, PNS, ANS, Ar } = p;

  /** @type {Measurement[]} */
  const m = [];
  /**
   * @param {string} id @param {string} name @param {Measurement["group"]} group @param {number} value
   * @param {Measurement["unit"]} unit @param {Norm | null} norm @param {string} reading @param {string[]} uses
   */
  const add = (id, name, group, value, unit, norm, reading, uses) => {
    const isbi = group === "isbi" ? isbiClass(/** @type {keyof typeof ISBI_TYPES} */ (id), value) : undefined;
    const [lo, hi] = norm ? bounds(norm) : [];
    const withinNorm = isbi ? isbi.type === 1 : norm ? value >= /** @type {number} */ (lo) && value <= /** @type {number} */ (hi) : null;
    /** @type {Measurement} */
    const entry = { id, name, group, value, unit, norm, reading, uses, withinNorm };
    if (isbi) entry.isbiClass = isbi;
    m.push(entry);
  };

  // ---- ISBI 2015 challenge (the classification task's eight measurements, its definitions) ----
  const sna = angleAt(S, N, A);
  const snb = angleAt(S, N, B);
  const anb = sna - snb;
  // Palatal plane to FH, signed: + when ANS lies below FH's direction from PNS (the challenge's sign).
  const ppFh = Math.sign(cross(vec(Po, Or), vec(PNS, ANS)) || 1) * angleBetween(vec(Po, Or), vec(PNS, ANS));
  const odi = angleBetween(vec(Me, Go), vec(B, A)) + ppFh;
  const facialAngle = angleBetween(vec(Or, Po), vec(N, Pog));
  // AB plane to the facial plane (N–Pog), signed: − when B lies behind A relative to N–Pog.
  const abFacial = -Math.sign(cross(vec(N, Pog), vec(A, B)) || 1) * angleBetween(vec(N, Pog), vec(A, B));
  const apdi = facialAngle + abFacial + ppFh;
  const fhi = dist(S, Go) / dist(N, Me);
  const snGoGn = lineAngle(S, N, Go, Gn);
  // Overjet as the challenge measures it: the incisal tips' distance, + when the upper is ahead.
  const mw = Math.sign(UIT.x - LIT.x || 1) * len(dist(UIT, LIT));
  const isbiRange = (/** @type {keyof typeof ISBI_TYPES} */ id) => range(...ISBI_TYPES[id].normal);
  const typeWords = (/** @type {keyof typeof ISBI_TYPES} */ id, /** @type {number} */ v) => isbiClass(id, v).label;
  add("ANB", "ANB", "isbi", anb, "°", isbiRange("ANB"), typeWords("ANB", anb), ["A", "N", "B"]);
  add("SNB", "SNB", "isbi", snb, "°", isbiRange("SNB"), typeWords("SNB", snb), ["S", "N", "B"]);
  add("SNA", "SNA", "isbi", sna, "°", isbiRange("SNA"), typeWords("SNA", sna), ["S", "N", "A"]);
  add("ODI", "Overbite depth indicator", "isbi", odi, "°", isbiRange("ODI"), typeWords("ODI", odi), ["A", "B", "Go", "Me", "Po", "Or", "PNS", "ANS"]);
  add("APDI", "Anteroposterior dysplasia indicator", "isbi", apdi, "°", isbiRange("APDI"), typeWords("APDI", apdi), ["Po", "Or", "N", "Pog", "A", "B", "PNS", "ANS"]);
  add("FHI", "Facial height index (S–Go / N–Me)", "isbi", fhi, "ratio", isbiRange("FHI"), typeWords("FHI", fhi), ["S", "Go", "N", "Me"]);
  add("FMA", "FMA (the challenge's definition: SN to Go–Gn)", "isbi", snGoGn, "°", isbiRange("FMA"), typeWords("FMA", snGoGn), ["S", "N", "Go", "Gn"]);
  add("MW", "Modified Wits (incisal tips, + = upper ahead)", "isbi", mw, lengthUnit, spacing ? isbiRange("MW") : null, spacing ? typeWords("MW", mw) : "uncalibrated: the classes need mm", ["UIT", "LIT"]);

  // ---- Steiner (skeletal) ----
  const steiner = /** @type {const} */ ({ SNA: meanSd(82, 2), SNB: meanSd(80, 2), ANB: meanSd(2, 2), SNGoGn: meanSd(32, 5), SNMP: meanSd(32, 5) });
  add("steiner.SNA", "SNA", "steiner", sna, "°", steiner.SNA, read(sna, steiner.SNA, ["retrusive maxilla", "maxilla within norm", "protrusive maxilla"]), ["S", "N", "A"]);
  add("steiner.SNB", "SNB", "steiner", snb, "°", steiner.SNB, read(snb, steiner.SNB, ["retrusive mandible", "mandible within norm", "protrusive mandible"]), ["S", "N", "B"]);
  add("steiner.ANB", "ANB", "steiner", anb, "°", steiner.ANB, read(anb, steiner.ANB, ["skeletal Class III tendency", "skeletal Class I", "skeletal Class II tendency"]), ["A", "N", "B"]);
  add("steiner.SN-GoGn", "SN–GoGn", "steiner", snGoGn, "°", steiner.SNGoGn, read(snGoGn, steiner.SNGoGn, ["flat mandibular plane (horizontal grower)", "mandibular plane within norm", "steep mandibular plane (vertical grower)"]), ["S", "N", "Go", "Gn"]);
  const snMp = lineAngle(S, N, Go, Me);
  add("steiner.SN-MP", "SN–MP (Go–Me)", "steiner", snMp, "°", steiner.SNMP, read(snMp, steiner.SNMP, ["low angle", "mandibular plane within norm", "high angle"]), ["S", "N", "Go", "Me"]);
  const pogNb = len(frontOfLine(Pog, N, B));
  add("steiner.Pog-NB", "Pog–NB (+ = chin ahead of NB)", "steiner", pogNb, lengthUnit, null, pogNb >= 0 ? "chin ahead of the N–B line (read against L1–NB, not available)" : "chin behind the N–B line", ["Pog", "N", "B"]);

  // ---- Björk (polygon) ----
  const bjork = /** @type {const} */ ({ saddle: meanSd(123, 5), articular: meanSd(143, 6), gonial: meanSd(130, 7), sum: meanSd(396, 6) });
  const saddle = angleAt(N, S, Ar);
  const articular = angleAt(S, Ar, Go);
  const gonial = angleAt(Ar, Go, Me);
  const sum = saddle + articular + gonial;
  add("bjork.saddle", "Saddle angle (N–S–Ar)", "bjork", saddle, "°", bjork.saddle, read(saddle, bjork.saddle, ["acute: mandible placed forward", "within norm", "obtuse: mandible placed back"]), ["N", "S", "Ar"]);
  add("bjork.articular", "Articular angle (S–Ar–Go)", "bjork", articular, "°", bjork.articular, read(articular, bjork.articular, ["acute: mandible placed forward", "within norm", "obtuse: mandible placed back"]), ["S", "Ar", "Go"]);
  add("bjork.gonial", "Gonial angle (Ar–Go–Me)", "bjork", gonial, "°", bjork.gonial, read(gonial, bjork.gonial, ["acute: horizontal growth", "within norm", "obtuse: vertical growth"]), ["Ar", "Go", "Me"]);
  add("bjork.sum", "Björk sum", "bjork", sum, "°", bjork.sum, read(sum, bjork.sum, ["horizontal (counter-clockwise) growth pattern", "neutral growth pattern", "vertical (clockwise) growth pattern"]), ["N", "S", "Ar", "Go", "Me"]);

  // ---- Downs (skeletal) ----
  const downs = /** @type {const} */ ({ facial: meanSd(87.8, 3.6), convexity: meanSd(0, 5.1), ab: meanSd(-4.6, 3.7), mp: meanSd(21.9, 3.2), y: meanSd(59.4, 3.8) });
  add("downs.facial", "Facial angle (FH to N–Pog)", "downs", facialAngle, "°", downs.facial, read(facialAngle, downs.facial, ["retrusive chin", "chin within norm", "prominent chin"]), ["Po", "Or", "N", "Pog"]);
  // Convexity: N–A–Pog's departure from a straight line, + when A lies ahead of N–Pog.
  const convexity = Math.sign(frontOfLine(A, N, Pog) || 1) * (180 - angleAt(N, A, Pog));
  add("downs.convexity", "Angle of convexity (N–A–Pog)", "downs", convexity, "°", downs.convexity, read(convexity, downs.convexity, ["concave profile (Class III tendency)", "straight profile", "convex profile (Class II tendency)"]), ["N", "A", "Pog"]);
  add("downs.AB", "A–B plane angle (to N–Pog)", "downs", abFacial, "°", downs.ab, read(abFacial, downs.ab, ["B far behind A (Class II tendency)", "within norm", "B ahead of A (Class III tendency)"]), ["A", "B", "N", "Pog"]);
  const fhMp = lineAngle(Po, Or, Go, Me);
  add("downs.MP", "Mandibular plane angle (FH to Go–Me)", "downs", fhMp, "°", downs.mp, read(fhMp, downs.mp, ["flat mandibular plane", "within norm", "steep mandibular plane"]), ["Po", "Or", "Go", "Me"]);
  const yAxis = lineAngle(Po, Or, S, Gn);
  add("downs.Y", "Y-axis (FH to S–Gn)", "downs", yAxis, "°", downs.y, read(yAxis, downs.y, ["horizontal growth", "within norm", "vertical growth"]), ["Po", "Or", "S", "Gn"]);

  return { measurements: m, unsupported: UNSUPPORTED.map((u) => ({ ...u })), calibrated: spacing !== null, spacingMm: spacing, facing };
}

/** @param {unknown} x @returns {x is Points} */
function isPoints(x) {
  return !!x && typeof x === "object" && !Array.isArray(x) && !("landmarks" in x) && "S" in x;
}
