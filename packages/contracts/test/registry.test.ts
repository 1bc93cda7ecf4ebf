import test from "ava";
import { z } from "zod";
import { actionContracts, audienceParts, defineAction, defineEvent, eventContracts } from "../src/index.ts";

test("every registry key is the contract's own name", (t) => {
  for (const [key, contract] of Object.entries({ ...actionContracts, ...eventContracts })) {
    t.is(contract.name, key);
  }
});

test("action names must be <service>.<verb>", (t) => {
  const make = (name: string) => () =>
    defineAction({ name, summary: "x", params: z.object({}), result: z.object({}), access: "internal" });
  t.throws(make("noservice"), { message: /must be "<service>.<verb>"/ });
  t.throws(make("a.b.c"), { message: /must be "<service>.<verb>"/ });
  t.is(make("people.getEmployee")().name, "people.getEmployee");
});

test("GET routes are idempotent by default, writes are not unless they say so", (t) => {
  const base = { summary: "x", params: z.object({}), result: z.object({}), access: "internal" as const };
  t.true(defineAction({ ...base, name: "a.get", rest: "GET /a" }).idempotent);
  t.false(defineAction({ ...base, name: "a.post", rest: "POST /a" }).idempotent);
  t.true(defineAction({ ...base, name: "a.put", rest: "PUT /a", idempotent: true }).idempotent);
});

test("event names must be dotted lower-case", (t) => {
  t.throws(() => defineEvent({ name: "EmployeeHired", summary: "x", payload: z.object({}) }));
  t.is(defineEvent({ name: "employee.hired", summary: "x", payload: z.object({}) }).name, "employee.hired");
});

test("audienceParts: parts double from the first size up to the largest, each id once, in order; bad sizes are refused", (t) => {
  const ids = Array.from({ length: 100_000 }, (_, i) => String(i));
  const parts = audienceParts(ids);
  t.deepEqual(
    parts.map((p) => p.length),
    [1_000, 2_000, 4_000, 8_000, 16_000, 20_000, 20_000, 20_000, 9_000],
  );
  t.deepEqual(parts.flat(), ids);
  t.deepEqual(audienceParts([]), []);
  t.throws(() => audienceParts(ids, 0), { instanceOf: RangeError, message: /first/ });
  t.throws(() => audienceParts(ids, 1_000, 500), { instanceOf: RangeError, message: /max/ });
});
