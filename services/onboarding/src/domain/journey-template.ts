// Journey templates: steps, audience rules, validation when HR saves one, and rendering of a step's content.
import Handlebars from "handlebars";
import type { OffsetUnit } from "./schedule.ts";

export type StepOwner = "newHire" | "buddy" | "manager" | "hr";

export interface TemplateStep {
  key: string;
  title: string;
  offsetDays: number;
  unit: OffsetUnit;
  owner: StepOwner;
  /** Handlebars over the person's fields (TEMPLATE_FIELDS). */
  content: string;
  link?: string | null;
  requiresConfirmation: boolean;
}

export interface AudienceRule {
  departments?: string[];
  offices?: string[];
  countries?: string[];
  /** A case-insensitive regular expression on the job title. */
  jobTitlePattern?: string;
}

export interface TemplateDraft {
  name: string;
  audience: AudienceRule;
  /** Higher wins when several templates match. */
  priority: number;
  steps: TemplateStep[];
}

/** Pre-boarding starts at most 60 days before day one; a journey lasts at most a year. */
export const OFFSET_RANGE = { min: -60, max: 365 } as const;

/** The fields a step's content may use. */
export const TEMPLATE_FIELDS = [
  "person.displayName",
  "person.givenName",
  "person.surname",
  "person.department",
  "person.jobTitle",
  "person.office",
  "person.country",
  "person.hireDate",
  "manager.displayName",
  "manager.givenName",
  "buddy.displayName",
  "buddy.givenName",
  "company.name",
] as const;

const ALLOWED = new Set<string>(TEMPLATE_FIELDS);
const ALLOWED_HELPERS = new Set(["if", "unless", "with"]);

export interface TemplateProblem {
  step: string | null;
  field: string;
  reason: string;
}

type Node = { type: string; [k: string]: unknown };

function pathsIn(node: unknown, out: Array<{ path: string; helper: boolean; line: number }>, scope: string[]): void {
  if (!node || typeof node !== "object") return;
  const n = node as Node;
  if (n.type === "MustacheStatement" || n.type === "BlockStatement" || n.type === "SubExpression") {
    const path = n.path as Node & { original: string };
    const params = (n.params as Node[]) ?? [];
    const isHelperCall = params.length > 0 || n.type === "BlockStatement" || n.type === "SubExpression";
    if (isHelperCall) {
      out.push({
        path: String(path.original),
        helper: true,
        line: (n.loc as { start: { line: number } })?.start.line ?? 0,
      });
      for (const p of params) pathsIn(p, out, scope);
      if (n.type === "BlockStatement") {
        const withScope = String(path.original) === "with" && params[0]?.type === "PathExpression";
        const inner = withScope ? [...scope, String((params[0] as Node & { original: string }).original)] : scope;
        pathsIn(n.program, out, inner);
        pathsIn(n.inverse, out, scope);
      }
    } else {
      pathsIn(path, out, scope);
    }
    return;
  }
  if (n.type === "PathExpression") {
    const original = String((n as Node & { original: string }).original);
    const full = scope.length > 0 && !original.includes(".") ? `${scope[scope.length - 1]}.${original}` : original;
    out.push({ path: full, helper: false, line: (n.loc as { start: { line: number } })?.start.line ?? 0 });
    return;
  }
  if (n.type === "Program") for (const s of (n.body as Node[]) ?? []) pathsIn(s, out, scope);
}

/** Problems with a draft, each naming the step and the reason; empty when it may be saved. */
export function validateTemplate(draft: TemplateDraft): TemplateProblem[] {
  const problems: TemplateProblem[] = [];
  if (draft.steps.length === 0)
    problems.push({ step: null, field: "steps", reason: "a journey needs at least one step" });
  if (draft.audience.jobTitlePattern) {
    try {
      new RegExp(draft.audience.jobTitlePattern, "i");
    } catch (error) {
      problems.push({ step: null, field: "audience.jobTitlePattern", reason: (error as Error).message });
    }
  }
  const keys = new Set<string>();
  for (const step of draft.steps) {
    if (keys.has(step.key)) problems.push({ step: step.key, field: "key", reason: "two steps share this key" });
    keys.add(step.key);
    if (!Number.isInteger(step.offsetDays) || step.offsetDays < OFFSET_RANGE.min || step.offsetDays > OFFSET_RANGE.max)
      problems.push({
        step: step.key,
        field: "offsetDays",
        reason: `offset ${step.offsetDays} is outside ${OFFSET_RANGE.min}..${OFFSET_RANGE.max} days`,
      });
    for (const [field, text] of [
      ["title", step.title],
      ["content", step.content],
      ["link", step.link ?? ""],
    ] as const) {
      let ast: unknown;
      try {
        ast = Handlebars.parse(text);
      } catch (error) {
        problems.push({
          step: step.key,
          field,
          reason: `does not compile: ${(error as Error).message.split("\n")[0]}`,
        });
        continue;
      }
      const used: Array<{ path: string; helper: boolean; line: number }> = [];
      pathsIn(ast, used, []);
      for (const u of used) {
        if (u.helper) {
          if (!ALLOWED_HELPERS.has(u.path))
            problems.push({ step: step.key, field, reason: `unknown helper "${u.path}" (allowed: if, unless, with)` });
        } else if (!ALLOWED.has(u.path) && u.path !== "this") {
          problems.push({ step: step.key, field, reason: `unknown field "${u.path}"` });
        }
      }
    }
  }
  return problems;
}

export interface RenderContext {
  person: Record<string, string | null>;
  manager: Record<string, string | null> | null;
  buddy: Record<string, string | null> | null;
  company: { name: string };
}

const compiled = new Map<string, HandlebarsTemplateDelegate>();

export function render(text: string, context: RenderContext): string {
  let fn = compiled.get(text);
  if (!fn) {
    fn = Handlebars.compile(text, {
      strict: false,
      noEscape: true,
      knownHelpersOnly: true,
      knownHelpers: { if: true, unless: true, with: true },
    });
    compiled.set(text, fn);
  }
  return fn(context);
}

export interface AudiencePerson {
  department: string | null;
  office: string | null;
  country: string | null;
  jobTitle: string | null;
}

export function matchesAudience(rule: AudienceRule, p: AudiencePerson): boolean {
  const inList = (list: string[] | undefined, v: string | null) =>
    !list || list.length === 0 || (v !== null && list.some((x) => x.toLowerCase() === v.toLowerCase()));
  if (!inList(rule.departments, p.department)) return false;
  if (!inList(rule.offices, p.office)) return false;
  if (!inList(rule.countries, p.country)) return false;
  if (rule.jobTitlePattern && !new RegExp(rule.jobTitlePattern, "i").test(p.jobTitle ?? "")) return false;
  return true;
}

/** How many criteria the rule sets: a narrower rule beats a broader one at equal priority. */
function specificity(rule: AudienceRule): number {
  return (
    (rule.departments?.length ? 1 : 0) +
    (rule.offices?.length ? 1 : 0) +
    (rule.countries?.length ? 1 : 0) +
    (rule.jobTitlePattern ? 1 : 0)
  );
}

/** The template for a person: highest priority, then the most specific audience, then the name. */
export function chooseTemplate<T extends { name: string; audience: AudienceRule; priority: number }>(
  templates: readonly T[],
  person: AudiencePerson,
): T | null {
  const fits = templates.filter((t) => matchesAudience(t.audience, person));
  fits.sort(
    (a, b) =>
      b.priority - a.priority || specificity(b.audience) - specificity(a.audience) || a.name.localeCompare(b.name),
  );
  return fits[0] ?? null;
}

export const DEFAULT_TEMPLATE: TemplateDraft = {
  name: "Hearth default journey",
  audience: {},
  priority: 0,
  steps: [
    {
      key: "welcome",
      title: "Welcome to {{company.name}}, {{person.givenName}}",
      offsetDays: -5,
      unit: "working",
      owner: "newHire",
      content:
        "We are glad you are joining {{person.department}} as {{person.jobTitle}} on {{person.hireDate}}. Read the welcome pack and tell us your T-shirt size and accessibility needs.",
      link: "https://intranet.example/welcome",
      requiresConfirmation: true,
    },
    {
      key: "prepare-equipment",
      title: "Order a laptop and accounts for {{person.displayName}}",
      offsetDays: -7,
      unit: "working",
      owner: "manager",
      content: "Laptop, licences and building access must be ready before {{person.hireDate}}.",
      link: null,
      requiresConfirmation: true,
    },
    {
      key: "buddy-intro",
      title: "Say hello to {{person.givenName}} before day one",
      offsetDays: -2,
      unit: "working",
      owner: "buddy",
      content: "Send {{person.givenName}} a short message and book a coffee in week one.",
      link: null,
      requiresConfirmation: false,
    },
    {
      key: "day-one-setup",
      title: "Day one: set up your laptop, Teams and MFA",
      offsetDays: 0,
      unit: "working",
      owner: "newHire",
      content:
        "Sign in, set up multi-factor authentication and install Teams. {{#if manager.displayName}}{{manager.displayName}} will meet you at 10:00.{{/if}}",
      link: "https://intranet.example/it-setup",
      requiresConfirmation: true,
    },
    {
      key: "meet-the-team",
      title: "Week one: meet the team",
      offsetDays: 3,
      unit: "working",
      owner: "manager",
      content:
        "Introduce {{person.givenName}} to {{person.department}} and book 1:1s with the three closest colleagues.",
      link: null,
      requiresConfirmation: true,
    },
    {
      key: "first-buddy-meeting",
      title: "First buddy meeting with {{person.givenName}}",
      offsetDays: 5,
      unit: "working",
      owner: "buddy",
      content: "Meet {{person.givenName}} (coffee or video). Confirm here once you have met.",
      link: null,
      requiresConfirmation: true,
    },
    {
      key: "hr-paperwork",
      title: "Contract, bank details and policies signed",
      offsetDays: 5,
      unit: "working",
      owner: "hr",
      content: "Check that {{person.displayName}} has signed everything.",
      link: null,
      requiresConfirmation: true,
    },
    {
      key: "check-in-30",
      title: "30-day check-in",
      offsetDays: 30,
      unit: "calendar",
      owner: "manager",
      content: "How are the first 30 days going for {{person.givenName}}? Agree the goals for the next two months.",
      link: null,
      requiresConfirmation: true,
    },
    {
      key: "check-in-60",
      title: "60-day check-in",
      offsetDays: 60,
      unit: "calendar",
      owner: "manager",
      content: "Review progress against the 30-day goals with {{person.givenName}}.",
      link: null,
      requiresConfirmation: true,
    },
    {
      key: "check-in-90",
      title: "90-day check-in",
      offsetDays: 90,
      unit: "calendar",
      owner: "newHire",
      content:
        "Your 90-day conversation with {{manager.displayName}}: what helped, what should we change for the next hire?",
      link: null,
      requiresConfirmation: true,
    },
  ],
};
