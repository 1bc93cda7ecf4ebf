// Hearth's Teams app icons, drawn in code so that they are reproducible byte for byte: the color icon (192×192, a
// white house with a flame on the accent color) and the outline icon (32×32, white on transparent, as Teams asks).
// `node packages/teams-app/src/icons.ts` rewrites infra/teams/color.png and outline.png.
import fs from "node:fs";
import path from "node:path";
import { PNG } from "pngjs";

export const ACCENT = "#C2410C";
type Rgba = [number, number, number, number];
type Point = [number, number];

const hex = (color: string, alpha = 255): Rgba => [
  Number.parseInt(color.slice(1, 3), 16),
  Number.parseInt(color.slice(3, 5), 16),
  Number.parseInt(color.slice(5, 7), 16),
  alpha,
];

/** A house (roof and walls) and a flame inside it, in a unit square: the shapes both icons are cut from. */
const HOUSE: Point[] = [
  [0.5, 0.14],
  [0.86, 0.46],
  [0.77, 0.46],
  [0.77, 0.86],
  [0.23, 0.86],
  [0.23, 0.46],
  [0.14, 0.46],
];
const FLAME: Point[] = [
  [0.5, 0.44],
  [0.6, 0.58],
  [0.62, 0.68],
  [0.57, 0.77],
  [0.5, 0.8],
  [0.43, 0.77],
  [0.38, 0.68],
  [0.41, 0.6],
  [0.46, 0.64],
];

function inside(polygon: Point[], x: number, y: number): boolean {
  let result = false;
  for (let i = 0, j = polygon.length - 1; i < polygon.length; j = i++) {
    const [xi, yi] = polygon[i]!;
    const [xj, yj] = polygon[j]!;
    if (yi > y !== yj > y && x < ((xj - xi) * (y - yi)) / (yj - yi) + xi) result = !result;
  }
  return result;
}

/** Coverage of a pixel by a shape, from 4×4 samples (anti-aliased edges, still deterministic). */
function coverage(shape: (x: number, y: number) => boolean, px: number, py: number, size: number): number {
  let hits = 0;
  for (let sy = 0; sy < 4; sy++)
    for (let sx = 0; sx < 4; sx++) if (shape((px + (sx + 0.5) / 4) / size, (py + (sy + 0.5) / 4) / size)) hits++;
  return hits / 16;
}

function draw(size: number, pixel: (x: number, y: number) => Rgba): Buffer {
  const png = new PNG({ width: size, height: size, colorType: 6 });
  for (let y = 0; y < size; y++)
    for (let x = 0; x < size; x++) {
      const [r, g, b, a] = pixel(x, y);
      const i = (y * size + x) * 4;
      png.data[i] = r;
      png.data[i + 1] = g;
      png.data[i + 2] = b;
      png.data[i + 3] = a;
    }
  return PNG.sync.write(png, { colorType: 6, deflateLevel: 9 });
}

const mix = (a: Rgba, b: Rgba, t: number): Rgba =>
  [0, 1, 2, 3].map((i) => Math.round(a[i]! * (1 - t) + b[i]! * t)) as Rgba;

export function colorIcon(): Buffer {
  const size = 192;
  const accent = hex(ACCENT);
  const white = hex("#FFFFFF");
  const ember = hex("#F59E0B");
  return draw(size, (x, y) => {
    const house = coverage((u, v) => inside(HOUSE, u, v), x, y, size);
    const flame = coverage((u, v) => inside(FLAME, u, v), x, y, size);
    return mix(mix(accent, white, house), ember, flame);
  });
}

export function outlineIcon(): Buffer {
  const size = 32;
  return draw(size, (x, y) => {
    // The house's edge (a band inside the outline) plus the flame, white; everything else transparent.
    const edge = coverage(
      (u, v) =>
        inside(HOUSE, u, v) &&
        !inside(
          HOUSE.map(([px, py]) => [0.5 + (px - 0.5) * 0.72, 0.52 + (py - 0.5) * 0.72] as Point),
          u,
          v,
        ),
      x,
      y,
      size,
    );
    const flame = coverage((u, v) => inside(FLAME, u, v), x, y, size);
    return [255, 255, 255, Math.round(255 * Math.min(1, edge + flame))];
  });
}

export function writeIcons(dir: string): void {
  fs.writeFileSync(path.join(dir, "color.png"), colorIcon());
  fs.writeFileSync(path.join(dir, "outline.png"), outlineIcon());
}

if (import.meta.main) {
  const dir = path.resolve(import.meta.dirname, "../../../infra/teams");
  writeIcons(dir);
  console.log(`wrote ${dir}/color.png and outline.png`);
}
