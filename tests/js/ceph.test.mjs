// cc2d/ceph (pkg/ceph.js) in node, no wasm: measurements on hand-built tracings whose
// values are known by construction, the challenge's classes, mirroring, units and errors.
import { test } from "node:test";
import assert from "node:assert/strict";
import { LANDMARKS, analyse, isbiClass, pointsOf } from "../../pkg/ceph.js";

const rad = (deg) => (deg * Math.PI) / 180;
/** `from` moved by `length` in the direction `deg` degrees from +x, turning toward +y (down). */
const direction = (a, b) => (Math.atan2(b.y - a.y, b.x - a.x) * 180) / Math.PI;
const polar = (from, length, deg) => ({ x: from.x + length * Math.cos(rad(deg)), y: from.y + length * Math.sin(rad(deg)) });

/** A tracing facing right (image pixels, y down) built so that SNA = 82°, SNB = 78°,
 * AB–MP = 75°, PP–FH = +2° (ANS below), facial angle 87.8°, SN–GoGn 30°,
 * saddle angle 123°, MW 3 mm at 0.1 mm/px. */
function tracing() {
  const S = { x: 0, y: 0 };
  const N = { x: 700, y: 0 };
  const A = polar(N, 600, 180 - 82); // 82° from N→S, below it
  const B = polar(N, 1000, 180 - 78); // below A and behind it
  const Me = { x: B.x - 50, y: B.y + 250 };
  const Go = polar(Me, 700, direction(B, A) - 75); // Me→Go at 75° from B→A, turning back
  const Po = { x: -100, y: 150 };
  const Or = { x: 600, y: 150 };
  const PNS = { x: 150, y: 400 };
  const ANS = { x: 650, y: 400 + 500 * Math.tan(rad(2)) };
  const Pog = polar(N, 1500, 90 + (90 - 87.8)); // N→Pog at 87.8° to Or→Po, tilting back going down
  const Gn = polar(Go, 800, 30); // Go→Gn at 30° below S→N
  const Ar = polar(S, 400, 123); // N–S–Ar = 123°
  const UIT = { x: 640, y: 1100 };
  const LIT = { x: 610, y: 1100 };
  const rest = { UL: { x: 760, y: 1050 }, LL: { x: 750, y: 1200 }, Sn: { x: 780, y: 800 }, SPog: { x: 700, y: 1550 } };
  return { S, N, Or, Po, A, B, Pog, Me, Gn, Go, LIT, UIT, PNS, ANS, Ar, ...rest };
}

const byId = (analysis) => Object.fromEntries(analysis.measurements.map((m) => [m.id, m]));
const close = (actual, expected, what, tol = 1e-6) => assert.ok(Math.abs(actual - expected) < tol, `${what}: ${actual} vs ${expected}`);

test("the challenge's eight measurements on a tracing built to known values", () => {
  const p = tracing();
  const m = byId(analyse(p, { spacingMm: 0.1 }));
  close(m.SNA.value, 82, "SNA");
  close(m.SNB.value, 78, "SNB");
  close(m.ANB.value, 4, "ANB");
  close(m.ODI.value, 75 + 2, "ODI = AB–MP + PP–FH");
  // A→B turns back from N→Pog (92.2°, down and back) by its extra tilt: B behind A, negative.
  const abFacial = -(direction(p.A, p.B) - (90 + (90 - 87.8)));
  assert.ok(abFacial < 0);
  close(m.APDI.value, 87.8 + abFacial + 2, "APDI = facial + AB–facial + PP–FH");
  close(m.FHI.value, Math.hypot(p.Go.x - p.S.x, p.Go.y - p.S.y) / Math.hypot(p.Me.x - p.N.x, p.Me.y - p.N.y), "FHI");
  close(m.FMA.value, 30, "SN to Go–Gn");
  close(m.MW.value, 3, "MW in mm");
  assert.deepEqual(
    ["ANB", "SNB", "SNA", "ODI", "APDI", "FHI", "FMA", "MW"].map((id) => m[id].isbiClass.type),
    [1, 1, 1, 1, m.APDI.value < 77.6 ? 2 : m.APDI.value > 85.2 ? 3 : 1, m.FHI.value > 0.75 ? 2 : m.FHI.value < 0.65 ? 3 : 1, 1, 1],
  );
  close(m["bjork.saddle"].value, 123, "saddle angle");
  close(m["bjork.sum"].value, m["bjork.saddle"].value + m["bjork.articular"].value + m["bjork.gonial"].value, "Björk sum");
  close(m["downs.facial"].value, 87.8, "facial angle");
  close(m["downs.AB"].value, abFacial, "AB plane angle (B behind A: −)");
  close(m["downs.Y"].value, (Math.atan2(p.Gn.y - p.S.y, p.Gn.x - p.S.x) * 180) / Math.PI, "Y-axis against a horizontal FH");
});

test("withinNorm: the ISBI type is normal, or the value lies in mean ± SD or the range; null without a norm", () => {
  const m = byId(analyse(tracing(), { spacingMm: 0.1 }));
  assert.equal(m.SNA.withinNorm, true, "SNA 82° is ISBI type 1");
  assert.equal(m.MW.withinNorm, true, "MW 3 mm is ISBI type 1");
  assert.equal(m.APDI.withinNorm, m.APDI.isbiClass.type === 1);
  assert.equal(m["steiner.SNA"].withinNorm, true, "82 within 82 ± 2");
  assert.equal(m["bjork.saddle"].withinNorm, true, "123 within 123 ± 5");
  // Move B back: SNB drops below both norms.
  const p = tracing();
  p.B = polar(p.N, 1000, 180 - 70);
  const moved = byId(analyse(p, { spacingMm: 0.1 }));
  assert.equal(moved.SNB.withinNorm, false, "SNB 70°: retrognathic mandible");
  assert.equal(moved["steiner.SNB"].withinNorm, false, "70 outside 80 ± 2");
  for (const x of Object.values(moved)) assert.equal(x.withinNorm === null, x.norm === null && x.isbiClass === undefined, x.id);
});

test("signs follow the anatomy: lower incisor ahead, ANS above, B behind A", () => {
  const p = tracing();
  const swapped = { ...p, UIT: p.LIT, LIT: p.UIT };
  const m = byId(analyse(swapped, { spacingMm: 0.1 }));
  close(m.MW.value, -3, "MW with the lower incisor ahead");
  assert.equal(m.MW.isbiClass.label, "anterior crossbite");
  const up = byId(analyse({ ...p, ANS: { x: p.ANS.x, y: 400 - 500 * Math.tan(rad(2)) } }, { spacingMm: 0.1 }));
  close(up.ODI.value, 75 - 2, "ODI with ANS tipped up");
  assert.deepEqual([0.5, 1.9, 2, 4.5, 4.6, -0.1].map((v) => isbiClass("MW", v).type), [2, 2, 1, 1, 4, 3]);
  assert.deepEqual([3.1, 3.2, 5.7, 5.8].map((v) => isbiClass("ANB", v).type), [3, 1, 1, 2]);
});

test("a profile facing left measures the same; pixels when uncalibrated", () => {
  const p = tracing();
  const mirrored = Object.fromEntries(Object.entries(p).map(([k, q]) => [k, { x: 2000 - q.x, y: q.y }]));
  const a = analyse(p, { spacingMm: 0.1 });
  const b = analyse(mirrored, { spacingMm: 0.1 });
  assert.equal(b.facing, "left");
  a.measurements.forEach((m, i) => close(b.measurements[i].value, m.value, m.id, 1e-9));
  const u = byId(analyse(p));
  assert.equal(u.MW.unit, "px");
  close(u.MW.value, 30, "MW in pixels");
  assert.equal(u.MW.norm, null);
  assert.ok(analyse(p).calibrated === false && a.calibrated === true);
  assert.ok(a.unsupported.some((x) => x.name.startsWith("Wits")), "what the 19 points cannot support is listed");
});

test("inputs: a detection by name, 19 points in order; missing, NaN and bad spacing refused", () => {
  const p = tracing();
  const ordered = LANDMARKS.map(([key]) => [p[key].x, p[key].y]);
  const detection = { landmarks: LANDMARKS.map(([key, name]) => ({ name, x: p[key].x, y: p[key].y, score: 0.9 })).reverse() };
  assert.deepEqual(pointsOf(ordered), pointsOf(detection));
  close(byId(analyse(detection)).SNA.value, 82, "SNA from a detection");
  assert.throws(() => analyse({ landmarks: detection.landmarks.filter((l) => l.name !== "sella") }), /no "sella" landmark/);
  assert.throws(() => analyse(ordered.slice(0, 18)), /no "articulare" landmark/);
  assert.throws(() => analyse({ ...p, N: { x: NaN, y: 0 } }), /"nasion" \(N\) is missing or not finite/);
  assert.throws(() => analyse(p, { spacingMm: -1 }), /spacingMm must be a positive number/);
});
