#!/usr/bin/env node
// Fails when a document link or a code comment points at a heading that does not exist.
// Checked: every relative Markdown link in README.md, CHANGELOG.md, docs/ and pkg/README.md
// (the file, and its #anchor as GitHub slugs the heading), and every reference of the form
// `docs/results.md, "Heading"` (or README.md, CHANGELOG.md, pkg/README.md) in the sources,
// scripts, tests and the package: a heading must start with the quoted words. A reference
// must sit on one line, so that this check can read it.
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, normalize, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const problems = [];

/** The headings of a Markdown file (outside code fences), as text and as GitHub anchors. */
const headingCache = new Map();
function headings(file) {
  if (headingCache.has(file)) return headingCache.get(file);
  const texts = [];
  const slugs = new Set();
  const seen = new Map();
  let fence = false;
  for (const line of readFileSync(join(root, file), "utf8").split("\n")) {
    if (line.startsWith("```")) fence = !fence;
    const m = !fence && /^#{1,6} (.*)$/.exec(line);
    if (!m) continue;
    const text = m[1].trim();
    texts.push(text.replaceAll("`", ""));
    const base = text
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, "")
      .replace(/\s/g, "-");
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    slugs.add(n === 0 ? base : `${base}-${n}`);
  }
  const result = { texts, slugs };
  headingCache.set(file, result);
  return result;
}

function walk(dir, out = []) {
  for (const name of readdirSync(join(root, dir))) {
    if (name === "node_modules" || name === "target" || name.startsWith(".git")) continue;
    const path = join(dir, name);
    if (statSync(join(root, path)).isDirectory()) walk(path, out);
    else out.push(path);
  }
  return out;
}

// 1. Markdown links.
const docs = ["README.md", "CHANGELOG.md", "pkg/README.md", ...walk("docs").filter((f) => f.endsWith(".md"))];
for (const doc of docs) {
  let fence = false;
  readFileSync(join(root, doc), "utf8")
    .split("\n")
    .forEach((line, i) => {
      if (line.startsWith("```")) fence = !fence;
      if (fence) return;
      for (const [, target] of line.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target)) continue; // https:, mailto:
        const [path, anchor] = target.split("#");
        const file = path === "" ? doc : normalize(join(dirname(doc), path));
        const where = `${doc}:${i + 1}: ${target}`;
        if (!existsSync(join(root, file))) problems.push(`${where}: no file ${file}`);
        else if (anchor !== undefined && file.endsWith(".md") && !headings(file).slugs.has(anchor)) {
          problems.push(`${where}: no heading with anchor #${anchor} in ${file}`);
        }
      }
    });
}

// 2. References from code and scripts: `docs/x.md, "Heading"`.
const referable = /\b(README(?:\.md)?|CHANGELOG\.md|docs\/[\w-]+\.md|pkg\/README\.md)(?:,|:)\s*"/g;
const sources = ["src", "tests", "scripts", "pkg", "www", "benches", "examples", ".ci"]
  .filter((d) => existsSync(join(root, d)))
  .flatMap((d) => walk(d))
  .concat(["Cargo.toml", "build.rs"])
  .filter((f) => f !== "scripts/check-links.mjs")
  .filter((f) => /\.(rs|mjs|js|ts|sh|toml|py|html)$|^\.ci\/run$/.test(f) && !f.startsWith("tests/fixtures"));
for (const file of sources) {
  readFileSync(join(root, file), "utf8")
    .split("\n")
    .forEach((line, i) => {
      for (const m of line.matchAll(referable)) {
        const where = `${relative(root, join(root, file))}:${i + 1}`;
        const rest = line.slice(m.index + m[0].length);
        const end = rest.indexOf('"');
        if (end < 0) {
          problems.push(`${where}: a reference to ${m[1]} must name its heading on one line`);
          continue;
        }
        const doc = m[1].startsWith("README") ? "README.md" : m[1];
        const wanted = rest.slice(0, end).replaceAll("`", "");
        if (!existsSync(join(root, doc))) problems.push(`${where}: no file ${doc}`);
        else if (!headings(doc).texts.some((t) => t.startsWith(wanted))) {
          problems.push(`${where}: no heading "${wanted}" in ${doc}`);
        }
      }
    });
}

if (problems.length) {
  console.error(`Links to headings that do not exist (${problems.length}):\n  ${problems.join("\n  ")}`);
  process.exit(1);
}
console.log(`links: ${docs.length} documents and ${sources.length} source files checked`);
