// npm run bench -- <name>: each benchmark prints its figures and, as its last line, one JSON object.
import fs from "node:fs";
import path from "node:path";

const available = fs
  .readdirSync(import.meta.dirname)
  .filter((f) => f.endsWith(".bench.ts"))
  .map((f) => f.replace(/\.bench\.ts$/, ""))
  .sort();
const name = process.argv[2];
if (!name || !available.includes(name)) {
  console.error(`Usage: npm run bench -- <name>\nBenchmarks: ${available.join(", ")}`);
  process.exit(name ? 2 : 0);
}
const bench = (await import(path.join(import.meta.dirname, `${name}.bench.ts`))) as {
  run(args: string[]): Promise<object>;
};
const result = await bench.run(process.argv.slice(3));
console.log(JSON.stringify(result));
process.exit(0);
